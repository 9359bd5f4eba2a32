package config

import (
	"strings"
	"testing"
	"time"
)

func TestQuotas(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, q Quotas)
	}{
		{name: "defaults", yaml: "", check: func(t *testing.T, q Quotas) {
			if q.RequestsPerMinute != 600 || q.TokensPerMinute != 600_000 || q.StreamsPerUnit != 4 || q.QueueWait() != 2*time.Second ||
				q.RedisURL != "" || q.OverrideList() != nil {
				t.Errorf("got %+v", q)
			}
		}},
		{name: "full", yaml: `quotas:
  redis_url: redis://127.0.0.1:6379/2
  requests_per_minute: 0
  tokens_per_minute: 1000
  streams_per_unit: 2
  provisioned_queue_wait: 0s
  overrides:
    - account: "111122223333"
      model: abcdefghijkl
      requests_per_minute: 5
    - model: "*"
      tokens_per_minute: 0
`, check: func(t *testing.T, q Quotas) {
			o := q.OverrideList()
			if q.RedisURL != "redis://127.0.0.1:6379/2" || q.RequestsPerMinute != 0 || q.TokensPerMinute != 1000 ||
				q.StreamsPerUnit != 2 || q.QueueWait() != 0 || len(o) != 2 {
				t.Fatalf("got %+v", q)
			}
			if *o[0].RequestsPerMinute != 5 || o[0].TokensPerMinute != nil || *o[1].TokensPerMinute != 0 {
				t.Errorf("overrides %+v %+v", o[0], o[1])
			}
		}},
		{name: "bad-redis-url", yaml: "quotas: {redis_url: 'http://x'}\n", wantErr: "redis_url"},
		{name: "negative-rpm", yaml: "quotas: {requests_per_minute: -1}\n", wantErr: "negative"},
		{name: "zero-streams", yaml: "quotas: {streams_per_unit: 0}\n", wantErr: "streams_per_unit"},
		{name: "negative-wait", yaml: "quotas: {provisioned_queue_wait: -1s}\n", wantErr: "provisioned_queue_wait"},
		{name: "bad-account", yaml: "quotas: {overrides: [{account: '12', requests_per_minute: 1}]}\n", wantErr: "account"},
		{name: "override-without-limit", yaml: "quotas: {overrides: [{model: m}]}\n", wantErr: "sets no limit"},
		{name: "unknown-key", yaml: "quotas: {rpm: 1}\n", wantErr: "not found"},
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
			tc.check(t, c.Quotas)
		})
	}
}
