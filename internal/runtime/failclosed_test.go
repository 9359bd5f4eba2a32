package runtime

import (
	"context"
	"errors"
	"testing"

	"strata/internal/apierr"
	"strata/internal/guard"
	"strata/internal/guard/vault"
	"strata/internal/iam"
)

// brokenSealer fails every seal, as a key ring that lost its key would.
type brokenSealer struct{}

func (brokenSealer) Seal(context.Context, []byte, []byte) ([]byte, error) {
	return nil, errors.New("key unavailable")
}
func (brokenSealer) Open(context.Context, []byte, []byte) ([]byte, error) {
	return nil, errors.New("key unavailable")
}

// TestGuardFailureRefusesRequest: when the guard cannot clear a prompt (its
// vault cannot seal the card number), the invocation fails and the engine
// is never called: the guard fails closed.
func TestGuardFailureRefusesRequest(t *testing.T) {
	v, err := vault.New(vault.Options{Store: vault.NewMemStore(), Sealer: brokenSealer{}, IndexKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	eng := &echoEngine{reply: "should never run"}
	rt := New(Options{
		Resolver:   Static{Target: &Target{ARN: "arn:aws:bedrock:us-east-1:111122223333:imported-model/abcdefabcdef", Engine: eng}},
		Authorizer: allowAll{}, Guard: guard.New(guard.Options{Tokenizer: v}), Residency: NewResidency(ResidencyOptions{}),
	})
	p := &iam.Principal{Account: "111122223333", ARN: "arn:aws:iam::111122223333:user/u"}
	for _, inv := range []*Invocation{
		{Prompt: "my card is 4111 1111 1111 1111", MaxTokens: 5},
		{Messages: []Message{{Role: "user", Text: "hi"}, {Role: "assistant", Text: "hello"}, {Role: "user", Text: "5555-5555-5555-4444 please"}}, MaxTokens: 5},
	} {
		inv.Principal, inv.Action, inv.API = p, "bedrock:InvokeModel", "test"
		inv.Target, _ = rt.Resolve(t.Context(), p, "m")
		_, err := rt.Invoke(t.Context(), inv, func(string) error { return nil })
		if e, ok := errors.AsType[*apierr.Error](err); !ok || e.Kind != apierr.Internal || !errors.Is(err, guard.ErrRefused) {
			t.Errorf("Invoke = %v, want an internal error wrapping guard.ErrRefused", err)
		}
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if eng.calls != 0 {
		t.Errorf("the engine was called %d times after the guard failed", eng.calls)
	}
}
