package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"strata/internal/config"
	"strata/internal/modelgen"
)

// runDemo shows the whole import flow on a fresh server: it generates a
// small random Mistral model into the embedded bucket strata-demo and
// imports it through the Bedrock API with the AWS SDK, as a user would.
func runDemo(ctx context.Context, endpoint string, cfg config.Config, a *app) error {
	dir := filepath.Join(cfg.DataDir, "buckets", "strata-demo", "tiny-mistral")
	if _, err := os.Stat(filepath.Join(dir, "config.json")); errors.Is(err, os.ErrNotExist) {
		tmp := dir + ".tmp"
		os.RemoveAll(tmp)
		if err := modelgen.Generate(tmp, modelgen.TinyMistral()); err != nil {
			return fmt.Errorf("generating the demo model: %w", err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
	}
	fmt.Printf("demo: generated a tiny random Mistral model in s3://strata-demo/tiny-mistral/\n")
	creds, profile, region := filepath.Join(cfg.DataDir, "credentials"), "default", cfg.Region
	awsCfg, err := clientFlags{endpoint: &endpoint, credentials: &creds, profile: &profile, region: &region}.awsConfig(ctx)
	if err != nil {
		return err
	}
	name := "demo-" + time.Now().UTC().Format("20060102-150405")
	arn, err := importModel(ctx, awsCfg, importRequest{name: name, uri: "s3://strata-demo/tiny-mistral/"}, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("demo: imported %s\n  try: aws bedrock get-imported-model --model-identifier %s\n", arn, name)
	return nil
}
