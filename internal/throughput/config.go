package throughput

import (
	"context"
	"io"
	"log/slog"

	"strata/internal/config"
)

// OpenQuotas builds the on-demand quotas the configuration asks for: in
// Redis when quotas.redis_url is set (shared by every replica), else in
// memory. Close the returned Closer when done.
func OpenQuotas(ctx context.Context, c config.Quotas, log *slog.Logger) (*Quotas, io.Closer, error) {
	var backend Backend = NewLocal()
	var closer io.Closer = nopCloser{}
	if c.RedisURL != "" {
		r, err := NewRedis(ctx, c.RedisURL, "strata:quota:")
		if err != nil {
			return nil, nil, err
		}
		backend, closer = r, r
	}
	def := Limit{RequestsPerMinute: c.RequestsPerMinute, TokensPerMinute: c.TokensPerMinute}
	var overrides []Override
	for _, o := range c.OverrideList() {
		l := def
		if o.RequestsPerMinute != nil {
			l.RequestsPerMinute = *o.RequestsPerMinute
		}
		if o.TokensPerMinute != nil {
			l.TokensPerMinute = *o.TokensPerMinute
		}
		overrides = append(overrides, Override{Account: o.Account, Model: o.Model, Limit: l})
	}
	return NewQuotas(backend, def, overrides, log), closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
