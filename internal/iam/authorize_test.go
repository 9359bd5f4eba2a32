package iam

import (
	"errors"
	"testing"
)

const (
	owner    = "111122223333"
	workload = "777788889999"
	roleR    = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-a1"
	bucketB  = "arn:aws:s3:::amzn-s3-demo-bucket"
)

func session(account, role, path string) *Principal {
	return &Principal{Account: account, Kind: KindAssumedRole, Name: role,
		ARN:     "arn:aws:sts::" + account + ":assumed-role/" + role + "/job",
		RoleARN: "arn:aws:iam::" + account + ":role/" + path + role}
}

// TestEvaluatorWorkedCases runs the worked cases of the IAM reference
// (shared/reference/iam-kms-audit.md §2).
func TestEvaluatorWorkedCases(t *testing.T) {
	bucketPolicy1 := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::777788889999:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["`+bucketB+`","`+bucketB+`/*"],"Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-*"}}}]}`, true)
	identity1 := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["`+bucketB+`","`+bucketB+`/*"],"Condition":{"StringEquals":{"aws:ResourceAccount":"111122223333"}}}]}`, false)
	identity3 := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["`+bucketB+`","`+bucketB+`/*"],"Condition":{"StringEquals":{"aws:ResourceAccount":"777788889999"}}}]}`, false)
	trust4 := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"777788889999"},"ArnEquals":{"aws:SourceArn":"arn:aws:bedrock:us-east-1:777788889999:model-import-job/*"}}}]}`, true)
	denyInsecure := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["`+bucketB+`","`+bucketB+`/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, true)
	allowAll := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, false)
	allowS3 := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, false)
	userVar := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::mybucket/${aws:username}/*"}]}`, false)
	ipDeny := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}`, false)
	namedUser := MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/carlossalazar"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::carlossalazar-logs/*"}]}`, true)

	r1 := session(workload, "BedrockCMIExecutionRole-a1", "")
	r1.Policies = []*Policy{identity1}
	r2 := session(workload, "BedrockCMIExecutionRole-a1", "service-role/")
	r2.Policies = []*Policy{identity1}
	r3 := session(workload, "BedrockCMIExecutionRole-a1", "")
	r3.Policies = []*Policy{identity3}
	user := func(name string, pols ...*Policy) *Principal {
		return &Principal{Account: owner, Kind: KindUser, Name: name, ARN: "arn:aws:iam::" + owner + ":user/" + name, Policies: pols}
	}
	svc := func(account string) *Principal {
		return &Principal{Account: account, Kind: KindService, Name: "bedrock.amazonaws.com", ARN: "bedrock.amazonaws.com"}
	}
	role := &Principal{Account: workload, Kind: KindUser, Name: "someone", ARN: "arn:aws:iam::777788889999:user/someone", Policies: []*Policy{allowAll}}

	tests := []struct {
		name  string
		req   Request
		allow bool
	}{
		{"1-cross-account-both-allow", Request{Principal: r1, Action: "s3:GetObject", Resource: bucketB + "/llama/model.safetensors", ResourceAccount: owner, ResourcePolicy: bucketPolicy1}, true},
		{"2-role-path-breaks-arnlike", Request{Principal: r2, Action: "s3:GetObject", Resource: bucketB + "/llama/model.safetensors", ResourceAccount: owner, ResourcePolicy: bucketPolicy1}, false},
		{"3-identity-wrong-resource-account", Request{Principal: r3, Action: "s3:GetObject", Resource: bucketB + "/x", ResourceAccount: owner, ResourcePolicy: bucketPolicy1}, false},
		{"4-service-trust-allows", Request{Principal: svc(workload), Action: "sts:AssumeRole", Resource: roleR, ResourceAccount: workload, ResourcePolicy: trust4, ResourcePolicyRequired: true,
			Context: map[string][]string{"aws:sourceaccount": {workload}, "aws:sourcearn": {"arn:aws:bedrock:us-east-1:777788889999:model-import-job/abc123"}}}, true},
		{"5-confused-deputy", Request{Principal: svc("444455556666"), Action: "sts:AssumeRole", Resource: roleR, ResourceAccount: workload, ResourcePolicy: trust4, ResourcePolicyRequired: true,
			Context: map[string][]string{"aws:sourceaccount": {"444455556666"}, "aws:sourcearn": {"arn:aws:bedrock:us-east-1:444455556666:model-import-job/x"}}}, false},
		{"5-user-not-in-trust", Request{Principal: role, Action: "sts:AssumeRole", Resource: roleR, ResourceAccount: workload, ResourcePolicy: trust4, ResourcePolicyRequired: true}, false},
		{"9-deny-insecure-http", Request{Principal: user("u", allowS3), Action: "s3:GetObject", Resource: bucketB + "/k", ResourceAccount: owner, ResourcePolicy: denyInsecure}, false},
		{"9-allow-over-https", Request{Principal: user("u", allowS3), Action: "s3:GetObject", Resource: bucketB + "/k", ResourceAccount: owner, ResourcePolicy: denyInsecure, Secure: true}, true},
		{"10-rbp-naming-user-is-enough", Request{Principal: user("carlossalazar"), Action: "s3:PutObject", Resource: "arn:aws:s3:::carlossalazar-logs/x", ResourcePolicy: namedUser}, true},
		{"16-username-variable-own", Request{Principal: user("David", userVar), Action: "s3:GetObject", Resource: "arn:aws:s3:::mybucket/David/x"}, true},
		{"16-username-variable-other", Request{Principal: user("David", userVar), Action: "s3:GetObject", Resource: "arn:aws:s3:::mybucket/Maria/x"}, false},
		{"16-role-has-no-username", Request{Principal: &Principal{Account: owner, Kind: KindAssumedRole, ARN: "arn:aws:sts::111122223333:assumed-role/r/s", RoleARN: "arn:aws:iam::111122223333:role/r", Policies: []*Policy{userVar}}, Action: "s3:GetObject", Resource: "arn:aws:s3:::mybucket/David/x"}, false},
		{"17-ip-inside", Request{Principal: user("u", allowAll, ipDeny), Action: "s3:GetObject", Resource: "*", Context: map[string][]string{"aws:sourceip": {"203.0.113.7"}}}, true},
		{"17-ip-outside", Request{Principal: user("u", allowAll, ipDeny), Action: "s3:GetObject", Resource: "*", Context: map[string][]string{"aws:sourceip": {"198.51.100.1"}}}, false},
		{"17-ip-absent", Request{Principal: user("u", allowAll, ipDeny), Action: "s3:GetObject", Resource: "*"}, false},
		{"no-policy-denies", Request{Principal: user("nobody"), Action: "bedrock:GetImportedModel", Resource: "arn:aws:bedrock:us-east-1:111122223333:imported-model/abc"}, false},
		{"root-allowed-in-own-account", Request{Principal: &Principal{Account: owner, Kind: KindRoot, ARN: "arn:aws:iam::111122223333:root"}, Action: "bedrock:GetImportedModel", Resource: "x"}, true},
		{"anonymous-denied", Request{Action: "s3:GetObject", Resource: "*"}, false},
	}
	e := &Evaluator{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Authorize(t.Context(), tc.req)
			if tc.allow && err != nil {
				t.Errorf("denied: %v", err)
			}
			if !tc.allow {
				if _, ok := errors.AsType[*DeniedError](err); !ok {
					t.Errorf("err = %v, want a DeniedError", err)
				}
			}
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		resource bool
	}{
		{"not-json", `{`, false},
		{"bad-effect", `{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}`, false},
		{"no-action", `{"Statement":{"Effect":"Allow","Resource":"*"}}`, false},
		{"principal-in-identity", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}`, false},
		{"no-principal-in-resource", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, true},
		{"partial-wildcard-principal", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1*"},"Action":"*"}}`, true},
		{"unknown-operator", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringSortOf":{"a":"b"}}}}`, false},
		{"unknown-field", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Extra":1}}`, false},
		{"bad-version", `{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, false},
		{"action-without-service", `{"Statement":{"Effect":"Allow","Action":"GetObject","Resource":"*"}}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePolicy([]byte(tc.doc), tc.resource); !errors.Is(err, ErrMalformedPolicy) {
				t.Errorf("err = %v, want ErrMalformedPolicy", err)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "anything", true},
		{"s3:Get*", "s3:GetObject", true},
		{"s3:Get*", "s3:PutObject", false},
		{"iam:*AccessKey*", "iam:CreateAccessKey", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
	}
	for _, tc := range tests {
		if got := Glob(tc.pattern, tc.s, false); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`), false)
	f.Add([]byte(`{"Statement":{"Effect":"Deny","Principal":{"AWS":["1","2"]},"NotAction":"s3:*","Condition":{"ForAnyValue:StringLike":{"k":["a*"]}}}}`), true)
	f.Fuzz(func(t *testing.T, doc []byte, resource bool) {
		p, err := ParsePolicy(doc, resource)
		if err != nil {
			return
		}
		// Evaluating any parsed policy must not panic.
		e := &Evaluator{}
		pr := &Principal{Account: "111122223333", Kind: KindUser, ARN: "arn:aws:iam::111122223333:user/u", Policies: []*Policy{}}
		req := Request{Principal: pr, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"}
		if resource {
			req.ResourcePolicy = p
		} else {
			pr.Policies = append(pr.Policies, p)
		}
		e.Authorize(t.Context(), req)
	})
}

func FuzzGlob(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Fuzz(func(t *testing.T, p, s string) {
		Glob(p, s, true)
	})
}
