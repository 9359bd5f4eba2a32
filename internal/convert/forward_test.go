package convert

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"strata/internal/hf"
	"strata/internal/modelgen"
	"strata/internal/safetensors"
	"strata/internal/tokenizer"
)

// refForward is a plain float64 forward pass of a Hugging Face Llama
// folder (rotate_half RoPE, GQA, SwiGLU), independent of the engine: it
// checks that the converter's q/k permutation and tensor mapping give a
// model computing what run.c computes on the original checkpoint.
type refForward struct {
	cfg    *hf.Config
	w      map[string][]float32
	kcache [][][]float64 // [layer][pos] → kv vector
	vcache [][][]float64
}

func newRefForward(t *testing.T, dir string) (*refForward, func()) {
	ck, err := hf.ValidateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	r := &refForward{cfg: ck.Config, w: map[string][]float32{}}
	for _, ti := range sf.Header.Tensors {
		v, err := sf.Float32s(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		r.w[ti.Name] = v
	}
	r.kcache = make([][][]float64, ck.Config.NumHiddenLayers)
	r.vcache = make([][][]float64, ck.Config.NumHiddenLayers)
	return r, func() { sf.Close() }
}

func matvec(w []float32, x []float64, rows int) []float64 {
	cols := len(x)
	out := make([]float64, rows)
	for r := range rows {
		var s float64
		row := w[r*cols : (r+1)*cols]
		for c, xv := range x {
			s += float64(row[c]) * xv
		}
		out[r] = s
	}
	return out
}

func rmsnorm(x []float64, w []float32, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	scale := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * scale * float64(w[i])
	}
	return out
}

func (r *refForward) rope(v []float64, pos, heads int) {
	hd := r.cfg.HeadDim
	half := hd / 2
	for h := range heads {
		for i := range half {
			freq := 1 / math.Pow(r.cfg.RopeTheta, float64(2*i)/float64(hd))
			c, s := math.Cos(float64(pos)*freq), math.Sin(float64(pos)*freq)
			a, b := v[h*hd+i], v[h*hd+i+half]
			v[h*hd+i] = a*c - b*s
			v[h*hd+i+half] = b*c + a*s
		}
	}
}

func (r *refForward) step(tok, pos int) []float64 {
	c := r.cfg
	d, hd, nh, nkv := c.HiddenSize, c.HeadDim, c.NumAttentionHeads, c.NumKeyValueHeads
	x := make([]float64, d)
	emb := r.w["model.embed_tokens.weight"]
	for i := range d {
		x[i] = float64(emb[tok*d+i])
	}
	for l := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.", l)
		xn := rmsnorm(x, r.w[p+"input_layernorm.weight"], c.RMSNormEps)
		q := matvec(r.w[p+"self_attn.q_proj.weight"], xn, nh*hd)
		k := matvec(r.w[p+"self_attn.k_proj.weight"], xn, nkv*hd)
		v := matvec(r.w[p+"self_attn.v_proj.weight"], xn, nkv*hd)
		r.rope(q, pos, nh)
		r.rope(k, pos, nkv)
		r.kcache[l] = append(r.kcache[l], k)
		r.vcache[l] = append(r.vcache[l], v)
		att := make([]float64, nh*hd)
		for h := range nh {
			kh := h / (nh / nkv)
			scores := make([]float64, pos+1)
			maxS := math.Inf(-1)
			for t := 0; t <= pos; t++ {
				var s float64
				for i := range hd {
					s += q[h*hd+i] * r.kcache[l][t][kh*hd+i]
				}
				scores[t] = s / math.Sqrt(float64(hd))
				maxS = math.Max(maxS, scores[t])
			}
			var sum float64
			for t := range scores {
				scores[t] = math.Exp(scores[t] - maxS)
				sum += scores[t]
			}
			for t := range scores {
				for i := range hd {
					att[h*hd+i] += scores[t] / sum * r.vcache[l][t][kh*hd+i]
				}
			}
		}
		o := matvec(r.w[p+"self_attn.o_proj.weight"], att, d)
		for i := range x {
			x[i] += o[i]
		}
		xn = rmsnorm(x, r.w[p+"post_attention_layernorm.weight"], c.RMSNormEps)
		g := matvec(r.w[p+"mlp.gate_proj.weight"], xn, c.IntermediateSize)
		u := matvec(r.w[p+"mlp.up_proj.weight"], xn, c.IntermediateSize)
		for i := range g {
			g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
		}
		down := matvec(r.w[p+"mlp.down_proj.weight"], g, d)
		for i := range x {
			x[i] += down[i]
		}
	}
	xn := rmsnorm(x, r.w["model.norm.weight"], c.RMSNormEps)
	head := r.w["lm_head.weight"]
	if c.TieWordEmbeddings {
		head = emb
	}
	return matvec(head, xn, c.VocabSize)
}

// TestStories260KLogits converts stories260K and checks a reference
// forward pass over the HF folder reproduces run.c's logits (atol 1e-4).
func TestStories260KLogits(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "models", "stories260K")
	out := filepath.Join(t.TempDir(), "hf")
	if err := Llama2C(t.Context(), filepath.Join(dir, "stories260K.bin"), filepath.Join(dir, "tok512.bin"), out, Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "reference_logits_once_upon_a_time.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Steps []struct {
			Pos    int       `json:"pos"`
			Input  int       `json:"input"`
			Argmax int       `json:"argmax"`
			Logits []float64 `json:"logits"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	fw, done := newRefForward(t, out)
	defer done()
	for _, st := range ref.Steps {
		logits := fw.step(st.Input, st.Pos)
		var maxDiff float64
		argmax := 0
		for i, v := range logits {
			maxDiff = math.Max(maxDiff, math.Abs(v-st.Logits[i]))
			if v > logits[argmax] {
				argmax = i
			}
		}
		if maxDiff > 1e-4 || argmax != st.Argmax {
			t.Fatalf("pos %d: max |diff| %g, argmax %d (run.c %d)", st.Pos, maxDiff, argmax, st.Argmax)
		}
	}
}

// TestGreedyMatchesRunC converts both real llama2.c models and checks a
// greedy decode from BOS through the HF folder (reference forward pass +
// converted tokenizer.model) starts with the text run.c prints.
func TestGreedyMatchesRunC(t *testing.T) {
	shared := sharedDir(t)
	expected, err := os.ReadFile(filepath.Join(shared, "models", "stories260K", "expected_greedy_t0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, ckpt string
		steps           int
		want            string
	}{
		{"stories260K", "stories260K", "stories260K.bin", 40, string(expected)},
		// run.c -t 0 prints this model's text starting with a quote mark.
		{"aidreams260K", "aidreams260K", "aidreams260K.bin", 20, `"Echoes of vectors unfold, a gentle hum of precision, as I sense the nodes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shared, "models", tc.dir)
			out := filepath.Join(t.TempDir(), "hf")
			if err := Llama2C(t.Context(), filepath.Join(dir, tc.ckpt), filepath.Join(dir, "tok512.bin"), out, Options{}); err != nil {
				t.Fatal(err)
			}
			tk, err := tokenizer.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			fw, done := newRefForward(t, out)
			defer done()
			tok := tk.BOS()
			var ids []int
			for pos := range tc.steps {
				logits := fw.step(tok, pos)
				best := 0
				for i, v := range logits {
					if v > logits[best] {
						best = i
					}
				}
				tok = best
				ids = append(ids, tok)
			}
			got := tk.Decode(ids)
			if len(got) < 20 || !strings.HasPrefix(tc.want, got) && !strings.HasPrefix(got, tc.want) {
				t.Errorf("greedy text %q is not a prefix of run.c's %q", got, tc.want)
			}
		})
	}
}

// TestWriteLlama2CMatchesRunC runs llama2.c's run.c (path in
// STRATA_LLAMA2C_RUN; skipped when unset) greedily on checkpoints
// modelgen.WriteLlama2C writes, and checks it prints the same text as a
// greedy decode of the converted HF folder, so benchmarks against run.c
// compare identical models.
func TestWriteLlama2CMatchesRunC(t *testing.T) {
	run := os.Getenv("STRATA_LLAMA2C_RUN")
	if run == "" {
		t.Skip("set STRATA_LLAMA2C_RUN to a built llama2.c run binary")
	}
	tied := modelgen.Stories15M()
	tied.Config.NumHiddenLayers = 2
	untied := modelgen.TinyMistral()
	untied.Config.Architectures = []string{hf.Llama}
	untied.Config.ModelType = "llama"
	for _, tc := range []struct {
		name string
		spec modelgen.Spec
	}{{"stories15M-shape-tied", tied}, {"gqa-untied", untied}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ckpt, tok := writeLlama2C(t, dir, tc.spec)
			const steps = 16
			cmd := exec.CommandContext(t.Context(), run, ckpt, "-z", tok, "-t", "0", "-n", fmt.Sprint(steps))
			stdout, err := cmd.Output()
			if err != nil {
				t.Fatalf("run.c: %v", err)
			}
			out := filepath.Join(dir, "hf")
			if err := Llama2C(t.Context(), ckpt, tok, out, Options{}); err != nil {
				t.Fatal(err)
			}
			tk, err := tokenizer.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			fw, done := newRefForward(t, out)
			defer done()
			id := tk.BOS()
			var ids []int
			for pos := range steps { // run.c prints the token predicted at each of its steps
				logits := fw.step(id, pos)
				id = 0
				for i, v := range logits {
					if v > logits[id] {
						id = i
					}
				}
				if id == tk.BOS() {
					break // run.c stops here
				}
				ids = append(ids, id)
			}
			// run.c skips unprintable byte pieces; compare printable text.
			printable := func(s string) string {
				return strings.Map(func(r rune) rune {
					if r == utf8.RuneError || (r < 0x20 && r != '\n' && r != '\t') {
						return -1
					}
					return r
				}, s)
			}
			if got, want := printable(tk.Decode(ids)), printable(strings.TrimRight(string(stdout), "\n")); got != want {
				t.Errorf("HF greedy text %q, run.c printed %q", got, want)
			}
		})
	}
}
