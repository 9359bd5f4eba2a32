package bedrock

import (
	"testing"

	"strata/internal/apierr"
	"strata/internal/guard"
)

const createBody = `{"name":"bot","blockedInputMessaging":"no","blockedOutputsMessaging":"no",
 "contentPolicyConfig":{"filtersConfig":[{"type":"PROMPT_ATTACK","inputStrength":"HIGH","outputStrength":"NONE","inputModalities":["TEXT"]}],"tierConfig":{"tierName":"CLASSIC"}},
 "sensitiveInformationPolicyConfig":{"piiEntitiesConfig":[{"type":"EMAIL","action":"ANONYMIZE"}]},
 "tags":[{"key":"a","value":"b"}],"clientRequestToken":"t1"}`

func TestDecodeGuardrail(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		update bool
		ok     bool
	}{
		{name: "create-with-sdk-extras", body: createBody, ok: true},
		{name: "update-rejects-tags", body: createBody, update: true},
		{name: "unknown-member", body: `{"name":"x","bogus":1}`},
		{name: "kms-key-refused", body: `{"name":"x","kmsKeyId":"k"}`},
		{name: "not-json", body: `{"name":`},
		{name: "wrong-type", body: `{"name":3}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := decodeGuardrail([]byte(tc.body), tc.update)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && apierr.From(err).Kind != apierr.Validation {
				t.Errorf("kind %v", apierr.From(err).Kind)
			}
			if tc.ok && (in.Name != "bot" || in.ContentPolicyConfig == nil || len(in.Tags) != 1 || in.ClientRequestToken != "t1") {
				t.Errorf("decoded %+v", in)
			}
		})
	}
}

func TestGuardrailStreamMode(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"absent", `{"prompt":"x"}`, ""},
		{"async", `{"prompt":"x","amazon-bedrock-guardrailConfig":{"streamProcessingMode":"ASYNCHRONOUS"}}`, "ASYNCHRONOUS"},
		{"present-without-mode", `{"prompt":"x","amazon-bedrock-guardrailConfig":{}}`, "SYNCHRONOUS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := guardrailStreamMode([]byte(tc.body)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzDecodeGuardrail feeds CreateGuardrail and UpdateGuardrail bodies to
// the decoder and the policy validator: neither may panic, and a policy
// that validates must be applicable.
func FuzzDecodeGuardrail(f *testing.F) {
	f.Add([]byte(createBody))
	f.Add([]byte(`{"name":"x","sensitiveInformationPolicyConfig":{"regexesConfig":[{"name":"r","pattern":"a+","action":"BLOCK"}]}}`))
	f.Add([]byte(`{"topicPolicyConfig":{"topicsConfig":[{"name":"t","definition":"d","type":"DENY"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, update := range []bool{false, true} {
			in, err := decodeGuardrail(body, update)
			if err != nil {
				continue
			}
			if in.Guardrail.Validate() == nil {
				if _, err := guard.Apply(&in.Guardrail, guard.SourceInput, []string{"hello jo@example.com"}); err != nil {
					t.Fatalf("a valid policy failed to apply: %v", err)
				}
			}
			guardrailStreamMode(body)
		}
	})
}
