package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	rttypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

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
	// The default /query tiers all use the model named "local".
	name := "local"
	if _, err := bedrock.NewFromConfig(awsCfg).GetImportedModel(ctx, &bedrock.GetImportedModelInput{ModelIdentifier: aws.String(name)}); err == nil {
		name = "demo-" + time.Now().UTC().Format("20060102-150405")
	}
	arn, err := importModel(ctx, awsCfg, importRequest{name: name, uri: "s3://strata-demo/tiny-mistral/"}, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("demo: imported %s as %q\n", arn, name)
	out, err := bedrockruntime.NewFromConfig(awsCfg).Converse(ctx, &bedrockruntime.ConverseInput{
		ModelId: aws.String(arn),
		Messages: []rttypes.Message{{Role: rttypes.ConversationRoleUser,
			Content: []rttypes.ContentBlock{&rttypes.ContentBlockMemberText{Value: "My card 4111 1111 1111 1111 was charged twice"}}}},
		InferenceConfig: &rttypes.InferenceConfiguration{MaxTokens: aws.Int32(24)},
	})
	if err != nil {
		return fmt.Errorf("demo: Converse: %w", err)
	}
	msg := out.Output.(*rttypes.ConverseOutputMemberMessage).Value
	fmt.Printf("demo: Converse answered (a random model, so the words are noise; the card number never reached it):\n  %q\n", msg.Content[0].(*rttypes.ContentBlockMemberText).Value)
	for _, q := range []string{"How do I activate my new card?", "I don't recognise a payment on my statement, card 5555 5555 5555 4444"} {
		out, err := signedPost(ctx, awsCfg, endpoint+"/query", `{"query":`+strconv.Quote(q)+`}`)
		if err != nil {
			return fmt.Errorf("demo: /query: %w", err)
		}
		var r struct {
			Query, Tier, Rule string
			CostUSD           float64 `json:"cost_usd"`
			Complexity        float64 `json:"complexity_score"`
		}
		json.Unmarshal(out, &r)
		fmt.Printf("demo: POST /query %q\n  -> tier %s (rule %q, complexity %.1f), cost $%.6f\n", r.Query, r.Tier, r.Rule, r.Complexity, r.CostUSD)
	}
	fmt.Printf("demo: the server keeps running; press Ctrl-C to stop it\n")
	return nil
}

// signedPost sends a SigV4-signed JSON POST, as the AWS SDKs sign.
func signedPost(ctx context.Context, cfg aws.Config, url, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bedrock", cfg.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, b)
	}
	return b, err
}
