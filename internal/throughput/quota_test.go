package throughput

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/runtime"
)

// redisURL is the machine's Redis, or STRATA_TEST_REDIS.
func redisURL() string {
	if u := os.Getenv("STRATA_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// backends returns each Backend implementation, fresh, for one test. The
// Redis one uses a random key prefix so tests never share buckets.
func backends(t *testing.T) map[string]Backend {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	r, err := NewRedis(t.Context(), redisURL(), "test:"+hex.EncodeToString(b[:])+":")
	if err != nil {
		t.Fatalf("Redis is required (start it or set STRATA_TEST_REDIS): %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return map[string]Backend{"local": NewLocal(), "redis": r}
}

type step struct {
	op    string // "take", "force", "give"
	key   string
	limit int
	n     int
	ok    bool // for take: whether it is allowed
}

// TestBackendConformance runs the same cases against Local and Redis.
func TestBackendConformance(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
	}{
		{name: "takes-up-to-the-limit", steps: []step{
			{"take", "a", 5, 3, true}, {"take", "a", 5, 2, true}, {"take", "a", 5, 1, false},
		}},
		{name: "refused-take-takes-nothing", steps: []step{
			{"take", "a", 5, 4, true}, {"take", "a", 5, 3, false}, {"take", "a", 5, 1, true}, {"take", "a", 5, 1, false},
		}},
		{name: "give-restores", steps: []step{
			{"take", "a", 5, 5, true}, {"give", "a", 5, 2, false}, {"take", "a", 5, 2, true}, {"take", "a", 5, 1, false},
		}},
		{name: "give-never-beyond-full", steps: []step{
			{"give", "a", 5, 10, false}, {"take", "a", 5, 5, true}, {"take", "a", 5, 1, false},
		}},
		{name: "force-goes-into-debt", steps: []step{
			{"take", "a", 5, 5, true}, {"force", "a", 5, 3, false}, {"give", "a", 5, 2, false}, {"take", "a", 5, 1, false},
			{"give", "a", 5, 2, false}, {"take", "a", 5, 1, true},
		}},
		{name: "n-is-capped-at-the-limit", steps: []step{
			{"take", "a", 5, 100, true}, {"take", "a", 5, 1, false},
		}},
		{name: "keys-are-independent", steps: []step{
			{"take", "a", 2, 2, true}, {"take", "b", 2, 2, true}, {"take", "a", 2, 1, false}, {"take", "b", 2, 1, false},
		}},
	}
	for name, b := range backends(t) {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				prefix := tc.name + "/"
				for i, s := range tc.steps {
					var err error
					switch s.op {
					case "take":
						var ok bool
						var wait time.Duration
						ok, wait, err = b.Take(ctx, prefix+s.key, s.limit, s.n, false)
						if ok != s.ok {
							t.Fatalf("step %d %+v: ok = %v", i, s, ok)
						}
						if !ok && (wait <= 0 || wait > time.Minute) {
							t.Errorf("step %d: retry after %v, want (0, 1m]", i, wait)
						}
					case "force":
						var ok bool
						ok, _, err = b.Take(ctx, prefix+s.key, s.limit, s.n, true)
						if !ok {
							t.Fatalf("step %d: a forced take was refused", i)
						}
					case "give":
						err = b.Give(ctx, prefix+s.key, s.limit, s.n)
					}
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				}
			})
		}
		t.Run(name+"/refills-over-time", func(t *testing.T) {
			// 600 per minute refills one unit every 100ms.
			ctx := t.Context()
			if ok, _, _ := b.Take(ctx, "refill", 600, 600, false); !ok {
				t.Fatal("a full bucket refused")
			}
			if ok, wait, _ := b.Take(ctx, "refill", 600, 2, false); ok || wait > 250*time.Millisecond {
				t.Fatalf("an empty bucket: ok %v, retry after %v", ok, wait)
			}
			time.Sleep(250 * time.Millisecond)
			if ok, _, err := b.Take(ctx, "refill", 600, 2, false); !ok || err != nil {
				t.Fatalf("the bucket did not refill: %v", err)
			}
		})
		t.Run(name+"/concurrent-takes-never-exceed-the-limit", func(t *testing.T) {
			var allowed atomic.Int32
			var wg sync.WaitGroup
			for range 60 {
				wg.Go(func() {
					ok, _, err := b.Take(t.Context(), "concurrent", 20, 1, false)
					if err != nil {
						t.Error(err)
					}
					if ok {
						allowed.Add(1)
					}
				})
			}
			wg.Wait()
			// 20 per minute refills one every 3s; the burst is 20.
			if n := allowed.Load(); n < 20 || n > 21 {
				t.Errorf("%d of 60 allowed, want 20", n)
			}
		})
	}
}

func TestLimitFor(t *testing.T) {
	const acct, other = "111122223333", "444455556666"
	model := "arn:aws:bedrock:us-east-1:" + acct + ":imported-model/abcdefghijkl"
	q := NewQuotas(NewLocal(), Defaults, []Override{
		{Account: acct, Limit: Limit{RequestsPerMinute: 1}},
		{Model: "abcdefghijkl", Limit: Limit{RequestsPerMinute: 2}},
		{Account: acct, Model: model, Limit: Limit{RequestsPerMinute: 3}},
		{Account: other, Model: "*", Limit: Limit{RequestsPerMinute: 4}},
	}, nil)
	cases := []struct {
		name, account, model string
		want                 int
	}{
		{"account-and-model-wins", acct, model, 3},
		{"model-by-id", other, model, 2},
		{"account-only", acct, "arn:aws:bedrock:us-east-1:" + acct + ":imported-model/zzzzzzzzzzzz", 1},
		{"star-model", other, "arn:aws:bedrock:us-east-1:" + other + ":imported-model/zzzzzzzzzzzz", 4},
		{"default", "999999999999", "arn:aws:bedrock:us-east-1:999999999999:imported-model/zzzzzzzzzzzz", Defaults.RequestsPerMinute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := q.LimitFor(tc.account, tc.model).RequestsPerMinute; got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func isThrottled(err error) bool {
	e, ok := errors.AsType[*apierr.Error](err)
	return ok && e.Kind == apierr.Throttling && e.Message == ThrottledMessage
}

// TestQuotasAdmit runs the admitter over both backends.
func TestQuotasAdmit(t *testing.T) {
	p := &iam.Principal{Account: "111122223333"}
	for name, b := range backends(t) {
		target := func(id string) *runtime.Target {
			return &runtime.Target{ARN: "arn:aws:bedrock:us-east-1:111122223333:imported-model/" + id,
				ModelARN: "arn:aws:bedrock:us-east-1:111122223333:imported-model/" + id}
		}
		t.Run(name+"/requests-per-minute", func(t *testing.T) {
			q := NewQuotas(b, Limit{RequestsPerMinute: 3}, nil, nil)
			tg := target("rpm" + name)
			for i := range 3 {
				a, err := q.Admit(t.Context(), p, tg, 10)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				a.Done(5, 5)
			}
			if _, err := q.Admit(t.Context(), p, tg, 10); !isThrottled(err) {
				t.Fatalf("4th request: %v, want ThrottlingException", err)
			}
			// Another account has its own quota.
			if _, err := q.Admit(t.Context(), &iam.Principal{Account: "444455556666"}, tg, 10); err != nil {
				t.Fatal(err)
			}
		})
		t.Run(name+"/tokens-are-reserved-then-settled", func(t *testing.T) {
			q := NewQuotas(b, Limit{TokensPerMinute: 100}, nil, nil)
			tg := target("tpm" + name)
			first, err := q.Admit(t.Context(), p, tg, 80)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := q.Admit(t.Context(), p, tg, 30); !isThrottled(err) {
				t.Fatalf("over the reservation: %v", err)
			}
			first.Done(10, 10) // 60 unused tokens go back
			second, err := q.Admit(t.Context(), p, tg, 30)
			if err != nil {
				t.Fatalf("after settling: %v", err)
			}
			second.Done(30, 40) // 40 more than reserved: 90 used in all
			if _, err := q.Admit(t.Context(), p, tg, 15); !isThrottled(err) {
				t.Fatalf("after an overrun: %v", err)
			}
			if a, err := q.Admit(t.Context(), p, tg, 9); err != nil {
				t.Fatalf("within what is left: %v", err)
			} else {
				a.Done(4, 5)
			}
		})
		t.Run(name+"/a-token-refusal-gives-the-request-back", func(t *testing.T) {
			q := NewQuotas(b, Limit{RequestsPerMinute: 2, TokensPerMinute: 10}, nil, nil)
			tg := target("both" + name)
			a, err := q.Admit(t.Context(), p, tg, 10)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := q.Admit(t.Context(), p, tg, 10); !isThrottled(err) {
				t.Fatalf("%v", err)
			}
			a.Done(1, 1)
			if _, err := q.Admit(t.Context(), p, tg, 5); err != nil {
				t.Fatalf("the refused request used up the request quota: %v", err)
			}
		})
	}
}
