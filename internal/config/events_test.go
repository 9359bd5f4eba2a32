package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"strata/internal/events"
)

func TestEvents(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "default-none", yaml: "", check: func(t *testing.T, c Config) {
			want := Events{Timeout: 10 * time.Second, FirstRetry: time.Second, MaxRetry: 5 * time.Minute, MaxAge: 24 * time.Hour}
			if !reflect.DeepEqual(c.Events, want) {
				t.Errorf("got %+v, want %+v", c.Events, want)
			}
		}},
		{name: "full", yaml: `events:
  timeout: 5s
  first_retry: 2s
  max_retry: 10m
  max_age: 48h
  webhooks:
    - name: ops
      url: https://hooks.example.com/strata?team=ml
      secret_env: STRATA_HOOK_SECRET
      detail_types: [Model Customization Job State Change]
      accounts: ["123456789012"]
    - {name: local, url: "http://127.0.0.1:9000/events"}
`, check: func(t *testing.T, c Config) {
			want := Events{Timeout: 5 * time.Second, FirstRetry: 2 * time.Second, MaxRetry: 10 * time.Minute, MaxAge: 48 * time.Hour,
				Webhooks: []Webhook{
					{Name: "ops", URL: "https://hooks.example.com/strata?team=ml", SecretEnv: "STRATA_HOOK_SECRET",
						DetailTypes: []string{events.DetailTypeCustomizationJob}, Accounts: []string{"123456789012"}},
					{Name: "local", URL: "http://127.0.0.1:9000/events"},
				}}
			if !reflect.DeepEqual(c.Events, want) {
				t.Errorf("got %+v\nwant %+v", c.Events, want)
			}
		}},
		{name: "partial-keeps-defaults", yaml: "events: {max_age: 1h}\n", check: func(t *testing.T, c Config) {
			if c.Events.MaxAge != time.Hour || c.Events.Timeout != 10*time.Second || c.Events.FirstRetry != time.Second {
				t.Errorf("got %+v", c.Events)
			}
		}},
		{name: "secret-in-file", yaml: "events: {webhooks: [{name: a, url: 'http://127.0.0.1/', secret: hunter2}]}\n", wantErr: "not found"},
		{name: "unknown-key", yaml: "events: {retries: 3}\n", wantErr: "not found"},
		{name: "bad-scheme", yaml: "events: {webhooks: [{name: a, url: 'ftp://127.0.0.1/'}]}\n", wantErr: "scheme"},
		{name: "no-url", yaml: "events: {webhooks: [{name: a}]}\n", wantErr: "scheme"},
		{name: "no-name", yaml: "events: {webhooks: [{url: 'http://127.0.0.1/'}]}\n", wantErr: "name"},
		{name: "dup-name", yaml: "events: {webhooks: [{name: a, url: 'http://127.0.0.1/1'}, {name: a, url: 'http://127.0.0.1/2'}]}\n", wantErr: "repeated"},
		{name: "remote-unsigned", yaml: "events: {webhooks: [{name: a, url: 'https://hooks.example.com/'}]}\n", wantErr: "needs secret_env"},
		{name: "secret-env-not-a-name", yaml: "events: {webhooks: [{name: a, url: 'https://hooks.example.com/', secret_env: 'hunter 2'}]}\n", wantErr: "not an environment variable name"},
		{name: "unknown-detail-type", yaml: "events: {webhooks: [{name: a, url: 'http://127.0.0.1/', detail_types: [Model Customisation Job State Change]}]}\n", wantErr: "detail_types"},
		{name: "bad-account", yaml: "events: {webhooks: [{name: a, url: 'http://127.0.0.1/', accounts: ['42']}]}\n", wantErr: "account"},
		{name: "user-info", yaml: "events: {webhooks: [{name: a, url: 'https://u:p@hooks.example.com/', secret_env: S}]}\n", wantErr: "user info"},
		{name: "zero-timeout", yaml: "events: {timeout: 0s}\n", wantErr: "positive"},
		{name: "max-retry-below-first", yaml: "events: {first_retry: 1m, max_retry: 10s}\n", wantErr: "max_retry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(strings.NewReader(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestEventsBusOptions(t *testing.T) {
	c, err := Load(strings.NewReader(`events:
  max_age: 2h
  webhooks:
    - {name: ops, url: "https://hooks.example.com/x", secret_env: HOOK_SECRET, accounts: ["123456789012"]}
    - {name: local, url: "http://localhost:9000/"}
`))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOOK_SECRET": "s3cret"}
	o, err := c.Events.BusOptions(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := events.Options{
		Endpoints: []events.Endpoint{
			{Name: "ops", URL: "https://hooks.example.com/x", Secret: "s3cret", Accounts: []string{"123456789012"}},
			{Name: "local", URL: "http://localhost:9000/"},
		},
		Timeout: 10 * time.Second, FirstRetry: time.Second, MaxRetry: 5 * time.Minute, MaxAge: 2 * time.Hour,
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("got %+v\nwant %+v", o, want)
	}
	if _, err := c.Events.Endpoints(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "HOOK_SECRET") {
		t.Errorf("Endpoints with the secret unset: %v", err)
	}
}
