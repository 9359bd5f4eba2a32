package hf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedDir walks up from the working directory to the directory holding
// shared/DESIGN.md and returns that shared directory, skipping the test if
// there is none.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "shared", "DESIGN.md")); err == nil {
			return filepath.Join(dir, "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no shared/ directory beside the repository")
		}
		dir = parent
	}
}

const tinyConfig = `{"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":64,
"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
"vocab_size":512,"max_position_embeddings":256,"rms_norm_eps":1e-5,"rope_theta":10000.0,
"sliding_window":null,"tie_word_embeddings":false,"torch_dtype":"float32","bos_token_id":1,"eos_token_id":[2]}`

// withField returns tinyConfig with key set to the raw JSON value (or
// removed when value is "").
func withField(key, value string) string {
	var sb strings.Builder
	sb.WriteString(`{`)
	if value != "" {
		sb.WriteString(`"` + key + `":` + value + `,`)
	}
	// Drop the original key by rebuilding from tinyConfig's fields.
	body := strings.TrimPrefix(strings.TrimSpace(tinyConfig), "{")
	for _, part := range splitTop(body) {
		if strings.HasPrefix(strings.TrimSpace(part), `"`+key+`"`) {
			continue
		}
		sb.WriteString(part + ",")
	}
	return strings.TrimSuffix(sb.String(), ",") + "}"
}

// splitTop splits the body of a flat JSON object at top-level commas.
func splitTop(body string) []string {
	body = strings.TrimSuffix(strings.TrimSpace(body), "}")
	var parts []string
	depth, start := 0, 0
	for i, r := range body {
		switch r {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, body[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, body[start:])
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name     string
		json     string
		parseErr string
		validErr string
		check    func(t *testing.T, c *Config)
	}{
		{name: "tiny-mistral", json: tinyConfig, check: func(t *testing.T, c *Config) {
			if c.HeadDim != 16 || c.KVDim() != 32 || c.SlidingWindow != 0 || c.EOSTokenID[0] != 2 || c.BOSTokenID[0] != 1 {
				t.Errorf("resolved config = %+v", c)
			}
		}},
		{name: "llama-3.1-8b", json: `{"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
"eos_token_id":[128001,128008,128009],"hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,"intermediate_size":14336,
"max_position_embeddings":131072,"mlp_bias":false,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":32,
"num_key_value_heads":8,"pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,
"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,
"tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.43.0.dev0","use_cache":true,"vocab_size":128256}`,
			check: func(t *testing.T, c *Config) {
				if c.SlidingWindow != 0 || len(c.EOSTokenID) != 3 || c.HeadDim != 128 || c.RopeScaling.OriginalMaxPositionEmbeddings != 8192 {
					t.Errorf("config = %+v", c)
				}
			}},
		{name: "default-kv-heads", json: withField("num_key_value_heads", ""), check: func(t *testing.T, c *Config) {
			if c.NumKeyValueHeads != 4 {
				t.Errorf("kv heads = %d", c.NumKeyValueHeads)
			}
		}},
		{name: "mistral-default-window", json: withField("sliding_window", ""), check: func(t *testing.T, c *Config) {
			if c.SlidingWindow != 4096 {
				t.Errorf("sliding window = %d", c.SlidingWindow)
			}
		}},
		{name: "sliding-window-int", json: withField("sliding_window", "8"), check: func(t *testing.T, c *Config) {
			if c.SlidingWindow != 8 {
				t.Errorf("sliding window = %d", c.SlidingWindow)
			}
		}},
		{name: "explicit-head-dim", json: withField("head_dim", "32")},
		{name: "eos-int", json: withField("eos_token_id", "2")},
		{name: "rope-llama3", json: withField("rope_scaling", `{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}`),
			check: func(t *testing.T, c *Config) {
				if c.RopeScaling.RopeType != "llama3" || c.RopeScaling.Factor != 8 {
					t.Errorf("rope scaling = %+v", c.RopeScaling)
				}
			}},
		{name: "rope-linear-old-key", json: withField("rope_scaling", `{"type":"linear","factor":2}`)},
		{name: "rope-null", json: withField("rope_scaling", `null`)},
		{name: "rope-default", json: withField("rope_scaling", `{"rope_type":"default"}`), check: func(t *testing.T, c *Config) {
			if c.RopeScaling != nil {
				t.Errorf("rope scaling = %+v", c.RopeScaling)
			}
		}},
		{name: "attention-bias-false", json: withField("attention_bias", `false`)},
		{name: "attention-bias", json: withField("attention_bias", `true`), validErr: "attention_bias"},
		{name: "mlp-bias", json: withField("mlp_bias", `true`), validErr: "mlp_bias"},
		{name: "not-object", json: `[1]`, parseErr: "not a JSON object"},
		{name: "invalid-json", json: `{"a":`, parseErr: "invalid JSON"},
		{name: "duplicate-key", json: `{"hidden_size":1,"hidden_size":2}`, parseErr: "duplicate key"},
		{name: "string-size", json: withField("hidden_size", `"64"`), parseErr: "hidden_size"},
		{name: "window-string", json: withField("sliding_window", `"8"`), parseErr: "sliding_window"},
		{name: "eos-string", json: withField("eos_token_id", `"x"`), parseErr: "token id"},
		{name: "unsupported-arch", json: withField("architectures", `["GPT2LMHeadModel"]`), validErr: "not supported"},
		{name: "missing-arch", json: withField("architectures", ""), validErr: "architectures is missing"},
		{name: "two-archs", json: withField("architectures", `["MistralForCausalLM","LlamaForCausalLM"]`), validErr: "exactly one"},
		{name: "model-type-mismatch", json: withField("model_type", `"llama"`), validErr: "model_type"},
		{name: "zero-hidden", json: withField("hidden_size", "0"), validErr: "hidden_size must be positive"},
		{name: "negative-layers", json: withField("num_hidden_layers", "-1"), validErr: "num_hidden_layers must be positive"},
		{name: "heads-not-dividing", json: withField("num_attention_heads", "5"), validErr: "does not divide hidden_size"},
		{name: "kv-not-dividing", json: withField("num_key_value_heads", "3"), validErr: "does not divide num_attention_heads"},
		{name: "context-over-128k", json: withField("max_position_embeddings", "131073"), validErr: "context limit"},
		{name: "context-at-128k", json: withField("max_position_embeddings", "131072")},
		{name: "huge-vocab", json: withField("vocab_size", "1000000000"), validErr: "exceeds the limit"},
		{name: "bad-eps", json: withField("rms_norm_eps", "0"), validErr: "rms_norm_eps"},
		{name: "bad-rope-type", json: withField("rope_scaling", `{"type":"yarn","factor":4}`), validErr: "rope_scaling type"},
		{name: "bad-llama3", json: withField("rope_scaling", `{"rope_type":"llama3","factor":8}`), validErr: "low_freq_factor"},
		{name: "bad-act", json: withField("hidden_act", `"gelu"`), validErr: "hidden_act"},
		{name: "bad-dtype", json: withField("torch_dtype", `"int8"`), validErr: "torch_dtype"},
		{name: "eos-outside-vocab", json: withField("eos_token_id", "512"), validErr: "outside the vocabulary"},
		{name: "experts-on-mistral", json: withField("num_local_experts", "8"), validErr: "has no experts"},
		{name: "mixtral-defaults", json: strings.Replace(strings.Replace(tinyConfig, "MistralForCausalLM", "MixtralForCausalLM", 1), `"mistral"`, `"mixtral"`, 1),
			check: func(t *testing.T, c *Config) {
				if c.NumLocalExperts != 8 || c.NumExpertsPerTok != 2 {
					t.Errorf("experts = %d/%d", c.NumLocalExperts, c.NumExpertsPerTok)
				}
			}},
		{name: "mixtral-too-many-per-tok", json: strings.Replace(strings.Replace(tinyConfig, "MistralForCausalLM", "MixtralForCausalLM", 1), `"mistral"`, `"mixtral","num_local_experts":2,"num_experts_per_tok":3`, 1),
			validErr: "num_experts_per_tok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(strings.NewReader(tc.json))
			if tc.parseErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.parseErr) {
					t.Fatalf("ParseConfig error = %v, want %q", err, tc.parseErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			err = c.Validate()
			if tc.validErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.validErr) {
					t.Fatalf("Validate error = %v, want %q", err, tc.validErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestParseConfigTooLarge(t *testing.T) {
	big := `{"x":"` + strings.Repeat("a", MaxConfigSize) + `"}`
	if _, err := ParseConfig(strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

// TestRealMistral checks the real Mistral-7B config.json and index against
// each other and against ExpectedTensors.
func TestRealMistral(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "models", "mistral-7b-v0.1")
	f, err := os.Open(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.SlidingWindow != 4096 || cfg.NumKeyValueHeads != 8 || cfg.HeadDim != 128 || cfg.TieWordEmbeddings {
		t.Errorf("config = %+v", cfg)
	}
	ixf, err := os.Open(filepath.Join(dir, IndexFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer ixf.Close()
	ix, err := ParseIndex(ixf)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.WeightMap) != 291 || ix.TotalSize != 14483464192 || len(ix.Files()) != 2 {
		t.Errorf("index: %d tensors, total %d, files %v", len(ix.WeightMap), ix.TotalSize, ix.Files())
	}
	want := ExpectedTensors(cfg)
	if len(want) != len(ix.WeightMap) {
		t.Errorf("expected %d tensors, index has %d", len(want), len(ix.WeightMap))
	}
	var total int64
	for name, shape := range want {
		if _, ok := ix.WeightMap[name]; !ok {
			t.Errorf("index lacks %s", name)
		}
		n := int64(2) // bf16
		for _, d := range shape {
			n *= d
		}
		total += n
	}
	if total != ix.TotalSize {
		t.Errorf("expected tensors total %d bytes, index says %d", total, ix.TotalSize)
	}
	gf, err := os.Open(filepath.Join(dir, "generation_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	g, err := ParseGenerationConfig(gf)
	if err != nil {
		t.Fatal(err)
	}
	if g.BOSTokenID[0] != 1 || g.EOSTokenID[0] != 2 {
		t.Errorf("generation config = %+v", g)
	}
}

func TestCheckTensors(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(tinyConfig))
	if err != nil {
		t.Fatal(err)
	}
	mix, err := ParseConfig(strings.NewReader(strings.Replace(strings.Replace(tinyConfig, "MistralForCausalLM", "MixtralForCausalLM", 1), `"mistral"`, `"mixtral","num_local_experts":4`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ExpectedTensors(mix)); n != 3+2*(6+1+3*4) {
		t.Errorf("mixtral tensors = %d", n)
	}
	tied := *cfg
	tied.TieWordEmbeddings = true
	tests := []struct {
		name    string
		cfg     *Config
		edit    func(m map[string][]int64)
		wantErr string
	}{
		{"exact", cfg, func(m map[string][]int64) {}, ""},
		{"mixtral-exact", mix, func(m map[string][]int64) {}, ""},
		{"optional-inv-freq", cfg, func(m map[string][]int64) { m["model.layers.0.self_attn.rotary_emb.inv_freq"] = []int64{8} }, ""},
		{"tied-with-head", &tied, func(m map[string][]int64) { m["lm_head.weight"] = []int64{512, 64} }, ""},
		{"tied-head-bad-shape", &tied, func(m map[string][]int64) { m["lm_head.weight"] = []int64{512, 32} }, "lm_head.weight has shape"},
		{"missing", cfg, func(m map[string][]int64) { delete(m, "model.norm.weight") }, "missing tensors: model.norm.weight"},
		{"extra", cfg, func(m map[string][]int64) { m["model.layers.9.mlp.up_proj.weight"] = []int64{1} }, "unexpected tensors: model.layers.9"},
		{"bad-shape", cfg, func(m map[string][]int64) { m["model.layers.1.self_attn.k_proj.weight"] = []int64{64, 64} }, "k_proj.weight has shape [64 64], config.json implies [32 64]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var base *Config = tc.cfg
			got := ExpectedTensors(base)
			if tc.cfg == &tied {
				got = ExpectedTensors(&tied)
			}
			tc.edit(got)
			err := CheckTensors(tc.cfg, got)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseIndex(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr string
	}{
		{"valid", `{"metadata":{"total_size":16},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`, ""},
		{"no-metadata", `{"weight_map":{"a":"m.safetensors"}}`, ""},
		{"missing-weight-map", `{"metadata":{}}`, "weight_map is missing"},
		{"empty-weight-map", `{"weight_map":{}}`, "empty"},
		{"duplicate-tensor", `{"weight_map":{"a":"m.safetensors","a":"n.safetensors"}}`, "duplicate key"},
		{"path-traversal", `{"weight_map":{"a":"../etc/passwd.safetensors"}}`, "not a plain file name"},
		{"subdir", `{"weight_map":{"a":"sub/m.safetensors"}}`, "not a plain file name"},
		{"pickle-shard", `{"weight_map":{"a":"pytorch_model.bin"}}`, "not a .safetensors file"},
		{"negative-total", `{"metadata":{"total_size":-1},"weight_map":{"a":"m.safetensors"}}`, "total_size"},
		{"fraction-total", `{"metadata":{"total_size":1.5},"weight_map":{"a":"m.safetensors"}}`, "total_size"},
		{"non-string-file", `{"weight_map":{"a":1}}`, "weight_map must map"},
		{"not-object", `"x"`, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix, err := ParseIndex(strings.NewReader(tc.json))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(ix.Files()) == 0 {
					t.Error("no files")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseGenerationConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		json    string
		wantErr string
	}{
		{"full", `{"bos_token_id":1,"eos_token_id":[2,32000],"do_sample":true,"temperature":0.7,"top_p":0.9,"top_k":50,"max_new_tokens":100}`, ""},
		{"bad-top-p", `{"top_p":1.5}`, "top_p"},
		{"negative-temperature", `{"temperature":-1}`, "temperature"},
		{"negative-id", `{"eos_token_id":-2}`, "negative token id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseGenerationConfig(strings.NewReader(tc.json))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(tinyConfig))
	f.Add([]byte(withField("rope_scaling", `{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}`)))
	f.Add([]byte(`{"architectures":["MixtralForCausalLM"],"hidden_size":4096,"num_attention_heads":0}`))
	f.Add([]byte(`{"sliding_window":null,"eos_token_id":[1,2]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		if c.Validate() != nil || c.NumHiddenLayers*(c.NumLocalExperts+1) > 4096 {
			return // invalid, or too many tensors to list quickly
		}
		// A valid config yields a consistent, bounded tensor set.
		m := ExpectedTensors(c)
		if err := CheckTensors(c, m); err != nil {
			t.Fatalf("own expected tensors rejected: %v", err)
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"metadata":{"total_size":16},"weight_map":{"a":"model-00001-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"../x.safetensors"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := ParseIndex(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for _, file := range ix.Files() {
			if filepath.Base(file) != file || !strings.HasSuffix(file, ".safetensors") {
				t.Fatalf("accepted shard name %q", file)
			}
		}
	})
}
