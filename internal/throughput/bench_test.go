package throughput

import (
	"testing"

	"strata/internal/iam"
	"strata/internal/runtime"
)

// BenchmarkQuotasAdmit measures one Admit and Done (a request and a token
// reservation, settled) on each backend, with quotas that never refuse.
//
//	go test -run '^$' -bench QuotasAdmit ./internal/throughput
func BenchmarkQuotasAdmit(b *testing.B) {
	p := &iam.Principal{Account: "111122223333"}
	tg := &runtime.Target{ModelARN: "arn:aws:bedrock:us-east-1:111122223333:imported-model/benchbenchbe"}
	r, err := NewRedis(b.Context(), redisURL(), "bench:")
	if err != nil {
		b.Fatalf("Redis is required: %v", err)
	}
	defer r.Close()
	for name, backend := range map[string]Backend{"local": NewLocal(), "redis": r} {
		b.Run(name, func(b *testing.B) {
			q := NewQuotas(backend, Limit{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 30}, nil, nil)
			for b.Loop() {
				a, err := q.Admit(b.Context(), p, tg, 300)
				if err != nil {
					b.Fatal(err)
				}
				a.Done(20, 100)
			}
		})
	}
}

// BenchmarkProvisionedAdmit measures taking and freeing a stream slot.
//
//	go test -run '^$' -bench ProvisionedAdmit ./internal/throughput
func BenchmarkProvisionedAdmit(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	const arn = "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/benchbenchbe"
	s.live[arn] = &capacity{arn: arn, slots: make(chan struct{}, 4), cancel: func() {}}
	for b.Loop() {
		a, err := s.Admit(b.Context(), arn)
		if err != nil {
			b.Fatal(err)
		}
		a.Done(0, 0)
	}
}
