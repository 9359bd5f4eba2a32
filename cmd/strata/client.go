package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
)

// clientFlags are the flags of commands that call a strata server.
type clientFlags struct {
	endpoint    *string
	credentials *string
	profile     *string
	region      *string
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		endpoint:    fs.String("endpoint", envOr("AWS_ENDPOINT_URL", "http://127.0.0.1:8080"), "strata endpoint URL ($AWS_ENDPOINT_URL)"),
		credentials: fs.String("credentials", envOr("AWS_SHARED_CREDENTIALS_FILE", filepath.Join("strata-data", "credentials")), "AWS shared-credentials file ($AWS_SHARED_CREDENTIALS_FILE)"),
		profile:     fs.String("profile", envOr("AWS_PROFILE", "default"), "credentials profile ($AWS_PROFILE)"),
		region:      fs.String("region", envOr("AWS_REGION", "us-east-1"), "region ($AWS_REGION)"),
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// awsConfig loads credentials the way the AWS SDK does, from the given file
// and profile.
func (c clientFlags) awsConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRegion(*c.region),
		awsconfig.WithSharedCredentialsFiles([]string{*c.credentials}),
		awsconfig.WithSharedConfigProfile(*c.profile),
		awsconfig.WithBaseEndpoint(*c.endpoint),
	)
	if err != nil {
		return cfg, fmt.Errorf("loading credentials from %s: %w", *c.credentials, err)
	}
	return cfg, nil
}

func (c clientFlags) bedrock(ctx context.Context) (*bedrock.Client, error) {
	cfg, err := c.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return bedrock.NewFromConfig(cfg), nil
}
