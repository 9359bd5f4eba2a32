package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "empty-gives-defaults", yaml: "", check: func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c, Default) {
				t.Errorf("got %+v, want defaults", c)
			}
		}},
		{name: "overrides", yaml: "listen: 0.0.0.0:9000\nregion: eu-west-1\n", check: func(t *testing.T, c Config) {
			if c.Listen != "0.0.0.0:9000" || c.Region != "eu-west-1" || c.DataDir != Default.DataDir {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "unknown-key", yaml: "listne: x\n", wantErr: "not found"},
		{name: "bad-region", yaml: "region: mars\n", wantErr: "region"},
		{name: "bad-listen", yaml: "listen: nope\n", wantErr: "listen"},
		{name: "half-tls", yaml: "tls: {cert: a.pem}\n", wantErr: "tls"},
		{name: "http1-server-stdlib", yaml: "http1_server: net/http\n", check: func(t *testing.T, c Config) {
			if c.HTTP1Server != "net/http" || Default.HTTP1Server != "strata" {
				t.Errorf("http1_server = %q (default %q)", c.HTTP1Server, Default.HTTP1Server)
			}
		}},
		{name: "http1-server-bad", yaml: "http1_server: nginx\n", wantErr: "http1_server"},
		{name: "bad-log-level", yaml: "log: {level: loud}\n", wantErr: "log.level"},
		{name: "engine-ok", yaml: "engines:\n  - {name: m, type: openai, url: 'http://127.0.0.1:1/v1', model: x, timeout: 30s}\n", check: func(t *testing.T, c Config) {
			if len(c.Engines) != 1 || c.Engines[0].Timeout.Seconds() != 30 {
				t.Errorf("engines = %+v", c.Engines)
			}
		}},
		{name: "engine-bad-type", yaml: "engines:\n  - {name: m, type: grpc, url: x, model: y}\n", wantErr: "type must be"},
		{name: "engine-dup-name", yaml: "engines:\n  - {name: m, type: openai, url: x, model: y}\n  - {name: m, type: openai, url: x, model: y}\n", wantErr: "repeated"},
		{name: "cold-wait-zero", yaml: "runtime: {cold_start_wait: 0s}\n", check: func(t *testing.T, c Config) {
			if c.Runtime.ColdWait() != 0 {
				t.Errorf("cold wait %v", c.Runtime.ColdWait())
			}
		}},
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

func FuzzLoad(f *testing.F) {
	f.Add("listen: 127.0.0.1:1\n")
	f.Add("log: {level: debug, format: json}\n")
	f.Fuzz(func(t *testing.T, s string) {
		Load(strings.NewReader(s)) // must not panic
	})
}
