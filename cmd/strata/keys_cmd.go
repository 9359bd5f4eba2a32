package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const keysHelp = `usage: strata keys create [--user NAME] [flags]
       strata keys list [--user NAME] [flags]
       strata keys delete [flags] ID

Manages the API bearer keys of the OpenAI API (/v1/chat/completions,
/v1/completions, /v1/models). A key acts as one IAM user and is authorized
exactly as that user's SigV4 calls are.

create prints a new key ("sk-strata-...") on stdout; it is shown only once,
the server keeps only its hash. --user defaults to the calling user.
list prints key ids, never keys. delete removes a key; it stops working at
once on the server that deleted it and within 10 seconds on other replicas.

The command calls the server's /strata/api-keys API, signed with SigV4 with
the credentials file (the admin key "strata serve" wrote to
DATA_DIR/credentials by default), so it works against a remote server too.
The caller needs strata:CreateAPIKey, strata:ListAPIKeys or
strata:DeleteAPIKey on the user's ARN.

  export OPENAI_BASE_URL=http://127.0.0.1:8080/v1
  export OPENAI_API_KEY=$(strata keys create --data-dir strata-data)

flags:
`

func runKeys(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(os.Stderr, keysHelp)
		return errors.New("a subcommand is required: create, list or delete")
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, keysHelp); fs.PrintDefaults() }
	cf := addClientFlags(fs)
	dataDir := fs.String("data-dir", "", "use DATA_DIR/credentials (the admin key of a local server) as the credentials file")
	user := fs.String("user", "", "IAM user the key acts as (create: default the caller; list: default all users)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dataDir != "" {
		*cf.credentials = filepath.Join(*dataDir, "credentials")
	}
	c := keysClient{cf: cf}
	switch sub {
	case "create":
		if fs.NArg() != 0 {
			return errors.New("create takes no arguments")
		}
		body, _ := json.Marshal(map[string]string{"userName": *user})
		var out struct {
			ID, Key, UserArn string
		}
		if err := c.call(ctx, http.MethodPost, "/strata/api-keys", body, &out); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created API key %s for %s; it is shown only now:\n", out.ID, out.UserArn)
		fmt.Println(out.Key)
		return nil
	case "list":
		if fs.NArg() != 0 {
			return errors.New("list takes no arguments")
		}
		path := "/strata/api-keys"
		if *user != "" {
			path += "?userName=" + url.QueryEscape(*user)
		}
		var out struct {
			APIKeys []struct{ ID, UserArn, Created string }
		}
		if err := c.call(ctx, http.MethodGet, path, nil, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tCREATED")
		for _, k := range out.APIKeys {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.UserArn, k.Created)
		}
		return tw.Flush()
	case "delete":
		if fs.NArg() != 1 {
			return errors.New("delete takes one key id")
		}
		if err := c.call(ctx, http.MethodDelete, "/strata/api-keys/"+url.PathEscape(fs.Arg(0)), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "deleted API key %s\n", fs.Arg(0))
		return nil
	}
	fmt.Fprint(os.Stderr, keysHelp)
	return fmt.Errorf("unknown subcommand %q: want create, list or delete", sub)
}

// keysClient calls /strata/api-keys with SigV4-signed requests.
type keysClient struct {
	cf clientFlags
}

func (c keysClient) call(ctx context.Context, method, path string, body []byte, out any) error {
	cfg, err := c.cf.awsConfig(ctx)
	if err != nil {
		return err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("reading credentials from %s: %w", *c.cf.credentials, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(*c.cf.endpoint, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bedrock", cfg.Region, time.Now()); err != nil {
		return fmt.Errorf("signing the request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("calling %s: %w", *c.cf.endpoint, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string }
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error.Message)
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	return nil
}
