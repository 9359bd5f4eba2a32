// Package arn parses and builds Amazon Resource Names in AWS's formats:
// arn:partition:service:region:account:resource.
package arn

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

// ARN is a parsed Amazon Resource Name.
type ARN struct {
	Partition string // "aws"
	Service   string // "bedrock", "iam", "s3", ...
	Region    string // empty for global services
	Account   string // 12 digits; empty for S3 buckets
	Resource  string // everything after the fifth colon, e.g. "imported-model/abc"
}

// ErrMalformed is returned for a string that is not an ARN.
var ErrMalformed = errors.New("malformed ARN")

// Parse parses s. The resource part may itself contain colons.
func Parse(s string) (ARN, error) {
	if len(s) > 2048 {
		return ARN{}, fmt.Errorf("%w: longer than 2048 characters", ErrMalformed)
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, fmt.Errorf("%w: %q", ErrMalformed, s)
	}
	a := ARN{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}
	if !validPartition(a.Partition) || a.Service == "" || a.Resource == "" {
		return ARN{}, fmt.Errorf("%w: %q", ErrMalformed, s)
	}
	if a.Account != "" && a.Account != "aws" && !IsAccountID(a.Account) {
		return ARN{}, fmt.Errorf("%w: account %q is not 12 digits", ErrMalformed, a.Account)
	}
	return a, nil
}

func validPartition(p string) bool {
	return p == "aws" || strings.HasPrefix(p, "aws-") && len(p) > 4
}

// String formats a as an ARN.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// ResourceType returns the resource part before its first "/", e.g.
// "imported-model", and the rest after it.
func (a ARN) ResourceType() (typ, id string) {
	typ, id, _ = strings.Cut(a.Resource, "/")
	return typ, id
}

// IsAccountID reports whether s is a 12-digit account id.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Bedrock returns a bedrock ARN in region and account for resource "typ/id".
func Bedrock(region, account, typ, id string) string {
	return ARN{Partition: "aws", Service: "bedrock", Region: region, Account: account, Resource: typ + "/" + id}.String()
}

// IAM returns an IAM ARN such as arn:aws:iam::123456789012:role/Name.
func IAM(account, resource string) string {
	return ARN{Partition: "aws", Service: "iam", Account: account, Resource: resource}.String()
}

// S3 returns the ARN of a bucket (key "") or an object.
func S3(bucket, key string) string {
	r := bucket
	if key != "" {
		r += "/" + key
	}
	return ARN{Partition: "aws", Service: "s3", Resource: r}.String()
}

// NewID returns a random 12-character id of lowercase letters and digits,
// the form Bedrock uses for job and model ids.
func NewID() string { return randomString(12, "abcdefghijklmnopqrstuvwxyz0123456789") }

// NewAccountID returns a random 12-digit account id that does not start with 0.
func NewAccountID() string { return randomString(1, "123456789") + randomString(11, "0123456789") }

func randomString(n int, alphabet string) string {
	// Rejection sampling keeps every character equally likely.
	limit := byte(256 - 256%len(alphabet))
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		rand.Read(buf[:])
		for _, c := range buf {
			if c < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}
