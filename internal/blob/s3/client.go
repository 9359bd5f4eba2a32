package s3

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
)

// ClientOptions locate an S3-compatible server and the credentials to use
// there.
type ClientOptions struct {
	// Endpoint is the server's base URL, http:// or https://host[:port],
	// with no credentials, query or fragment. Requests use path-style
	// addressing (http://host/BUCKET/KEY).
	Endpoint string
	// Region is the SigV4 signing region, e.g. "us-east-1"; non-empty.
	Region string
	// AccessKeyID and SecretAccessKey are static credentials. Both empty
	// means the SDK's default chain: AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, the shared credentials and config files
	// (AWS_PROFILE), web identity, then the instance or container role.
	AccessKeyID     string
	SecretAccessKey string
}

// CheckEndpoint reports whether endpoint is usable as ClientOptions.Endpoint.
// Its messages never repeat the URL's user information.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	if u.User != nil {
		return errors.New("it must not carry credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return errors.New("it must be a base URL with no path, query or fragment")
	}
	return nil
}

// NewClient returns an S3 client for o, using path-style addressing.
func NewClient(ctx context.Context, o ClientOptions) (*awss3.Client, error) {
	if err := CheckEndpoint(o.Endpoint); err != nil {
		return nil, fmt.Errorf("s3 endpoint: %w", err)
	}
	if o.Region == "" {
		return nil, errors.New("s3: no region")
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return nil, errors.New("s3: set both the access key id and the secret access key, or neither")
	}
	// The SDK's default logger prints to stderr (e.g. a line for every
	// response without a checksum); errors reach the caller instead.
	opts := []func(*config.LoadOptions) error{config.WithRegion(o.Region), config.WithLogger(logging.Nop{})}
	if o.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading the AWS SDK configuration: %w", err)
	}
	endpoint := strings.TrimSuffix(o.Endpoint, "/")
	return awss3.NewFromConfig(cfg, func(so *awss3.Options) {
		so.BaseEndpoint = aws.String(endpoint)
		so.UsePathStyle = true
	}), nil
}
