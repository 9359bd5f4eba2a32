package s3

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"strata/internal/arn"
	"strata/internal/bucket"
	"strata/internal/iam"
)

// objectARN is the ARN of a bucket (key "") or an object.
func objectARN(bucketName, key string) string { return arn.S3(bucketName, key) }

// BucketPolicies returns an Authorizer that asks next with, for S3 ARNs of
// the store's buckets, the bucket's owner as the resource account and its
// bucket policy as the resource policy. Everything that reads embedded
// buckets (the S3 API and the import job) authorizes through it, so a
// bucket policy means the same to both.
func BucketPolicies(next iam.Authorizer, st *bucket.Store) iam.Authorizer {
	if bp, ok := next.(*bucketPolicies); ok {
		return bp
	}
	return &bucketPolicies{next: next, st: st}
}

type bucketPolicies struct {
	next iam.Authorizer
	st   *bucket.Store

	mu     sync.Mutex
	parsed map[string]*iam.Policy // +checklocks:mu; by document
}

func (b *bucketPolicies) Authorize(ctx context.Context, req iam.Request) error {
	name, ok := strings.CutPrefix(req.Resource, "arn:aws:s3:::")
	if !ok || req.ResourcePolicy != nil {
		return b.next.Authorize(ctx, req)
	}
	name, _, _ = strings.Cut(name, "/")
	bk, err := b.st.Bucket(name)
	if errors.Is(err, bucket.ErrNoSuchBucket) {
		return b.next.Authorize(ctx, req)
	}
	if err != nil {
		return err
	}
	req.ResourceAccount = bk.Owner
	if len(bk.Policy) > 0 {
		if req.ResourcePolicy, err = b.policy(bk.Policy); err != nil {
			return err
		}
	}
	return b.next.Authorize(ctx, req)
}

// policy parses a stored policy, remembering the result.
func (b *bucketPolicies) policy(doc []byte) (*iam.Policy, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.parsed[string(doc)]; ok {
		return p, nil
	}
	p, err := iam.ParsePolicy(doc, true)
	if err != nil {
		return nil, err
	}
	if b.parsed == nil || len(b.parsed) > 1000 {
		b.parsed = map[string]*iam.Policy{}
	}
	b.parsed[string(doc)] = p
	return p, nil
}

// bucketActions act on a bucket ARN; every other s3 action on an object.
var bucketActions = map[string]bool{
	"s3:listbucket": true, "s3:createbucket": true, "s3:deletebucket": true, "s3:getbucketlocation": true,
	"s3:listbucketmultipartuploads": true, "s3:putbucketpolicy": true, "s3:getbucketpolicy": true,
	"s3:deletebucketpolicy": true, "s3:putencryptionconfiguration": true, "s3:getencryptionconfiguration": true,
	"s3:putbucketpublicaccessblock": true, "s3:getbucketpublicaccessblock": true, "s3:getbucketpolicystatus": true,
}

var objectActions = map[string]bool{
	"s3:getobject": true, "s3:putobject": true, "s3:deleteobject": true, "s3:abortmultipartupload": true,
	"s3:listmultipartuploadparts": true,
}

// checkBucketPolicy validates a bucket policy as S3 does on Put: a
// resource policy whose resources are this bucket or its objects and whose
// actions are S3 actions.
func checkBucketPolicy(doc []byte, bucketName string) error {
	p, err := iam.ParsePolicy(doc, true)
	if err != nil {
		return s3err(400, "MalformedPolicy", strings.TrimPrefix(err.Error(), iam.ErrMalformedPolicy.Error()+": "))
	}
	bucketARN := objectARN(bucketName, "")
	for _, s := range p.Statement {
		if s.NotResource || len(s.Resource) == 0 {
			return s3err(400, "MalformedPolicy", "Policy statements need a Resource naming this bucket or its objects")
		}
		for _, r := range s.Resource {
			if r != bucketARN && !strings.HasPrefix(r, bucketARN+"/") {
				return s3err(400, "MalformedPolicy", "Policy has invalid resource")
			}
		}
		for _, a := range s.Action {
			la := strings.ToLower(a)
			if !strings.HasPrefix(la, "s3:") {
				return s3err(400, "MalformedPolicy", "Policy has invalid action")
			}
			if strings.ContainsAny(la, "*?") {
				continue
			}
			if !bucketActions[la] && !objectActions[la] {
				return s3err(400, "MalformedPolicy", "Policy has invalid action")
			}
			// Each action needs a resource of its kind.
			matched := false
			for _, r := range s.Resource {
				if bucketActions[la] == (r == bucketARN) {
					matched = true
				}
			}
			if !matched {
				return s3err(400, "MalformedPolicy", "Action does not apply to any resource(s) in statement")
			}
		}
	}
	return nil
}

func (h *Handler) putBucketPolicy(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:PutBucketPolicy", rq.bucket, "", nil); err != nil {
		return err
	}
	if _, err := h.store.Bucket(rq.bucket); err != nil {
		return err
	}
	doc, err := readAll(rq.r, rq.c, iam.MaxPolicySize)
	if err != nil {
		return err
	}
	if err := checkBucketPolicy(doc, rq.bucket); err != nil {
		return err
	}
	if err := h.store.SetPolicy(rq.bucket, doc); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getBucketPolicy(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:GetBucketPolicy", rq.bucket, "", nil); err != nil {
		return err
	}
	bk, err := h.store.Bucket(rq.bucket)
	if err != nil {
		return err
	}
	if len(bk.Policy) == 0 {
		return s3err(404, "NoSuchBucketPolicy", "The bucket policy does not exist", field{"BucketName", rq.bucket})
	}
	rq.w.Header().Set("Content-Type", "application/json")
	rq.w.Write(bk.Policy)
	return nil
}

func (h *Handler) deleteBucketPolicy(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:DeleteBucketPolicy", rq.bucket, "", nil); err != nil {
		return err
	}
	if err := h.store.SetPolicy(rq.bucket, nil); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
