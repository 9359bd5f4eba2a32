package router

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// toyData is a small labelled set with three tiers and an out-of-scope
// class, enough to train a model in milliseconds.
func toyData() ([]Example, TierMap) {
	var ex []Example
	add := func(cat string, texts ...string) {
		for _, t := range texts {
			ex = append(ex, Example{Text: t, Category: cat})
		}
	}
	add("change_pin", "how do I change my pin", "change my pin code", "I want a new pin", "can I change the pin on my card", "pin change please", "where do I change my PIN")
	add("card_arrival", "my card has not arrived", "when will my card arrive", "still waiting for my card", "card delivery is late", "where is my new card", "my card never came")
	add("lost_card", "I lost my card", "my card is missing and lost", "I can't find my card anywhere", "lost card what now", "card lost on the train", "I misplaced my card")
	add(OutOfScope, "what is the weather tomorrow", "play some jazz music", "book a table for two", "how tall is mount everest", "tell me a joke", "set an alarm for 7")
	tm := TierMap{Names: []string{"simple", "standard", "complex"}, Of: map[string]int{"change_pin": 0, "card_arrival": 1, "lost_card": 2}}
	return ex, tm
}

func toyModel(t testing.TB) *Model {
	t.Helper()
	ex, tm := toyData()
	m, err := Train(t.Context(), ex, tm, TrainOptions{Features: FeatureSpec{HashBits: 10, WordN: 2, CharMin: 3, CharMax: 4}, Epochs: 30, CalibFrac: -1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTrainToy(t *testing.T) {
	m := toyModel(t)
	tests := []struct {
		name  string
		query string
		class string
	}{
		{"pin", "how can I change my pin", "change_pin"},
		{"arrival", "my new card has not arrived yet", "card_arrival"},
		{"lost", "I lost my card yesterday", "lost_card"},
		{"oos", "what's the weather like", OutOfScope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := m.Score(tc.query)
			if s.Class != tc.class {
				t.Errorf("Score(%q).Class = %s (%.2f), want %s", tc.query, s.Class, s.ClassProb, tc.class)
			}
			sum := 0.0
			for _, p := range s.Tier {
				sum += p
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("tier masses sum to %v", sum)
			}
		})
	}
	d := Learned{Model: m}.Decide("what is the weather tomorrow", 3)
	if !d.Handoff || d.Rule != OutOfScope {
		t.Errorf("out-of-scope query decision = %+v, want handoff", d)
	}
	// Determinism: same data and seed, same weights.
	m2 := toyModel(t)
	var a, b bytes.Buffer
	if err := EncodeModel(&a, m); err != nil {
		t.Fatal(err)
	}
	if err := EncodeModel(&b, m2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("training is not deterministic")
	}
}

func TestTrainErrors(t *testing.T) {
	ex, tm := toyData()
	tests := []struct {
		name string
		ex   []Example
		tm   TierMap
		opts TrainOptions
		want string
	}{
		{"no-examples", nil, tm, TrainOptions{}, "no examples"},
		{"unmapped-category", append(ex, Example{"x", "mystery"}), tm, TrainOptions{}, "not in the tier map"},
		{"bad-features", ex, tm, TrainOptions{Features: FeatureSpec{HashBits: 40}}, "feature spec"},
		{"no-tiers", ex, TierMap{}, TrainOptions{}, "tiers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Train(t.Context(), tc.ex, tc.tm, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want containing %q", err, tc.want)
			}
		})
	}
}

// TestLossGradient checks the training gradient against central finite
// differences of the loss it claims to be the gradient of.
func TestLossGradient(t *testing.T) {
	z := []float64{0.3, -1.2, 2.0, 0.7, -0.4, 1.1}
	group := []int{0, 0, 1, 1, 2, 3} // class 5 stands for out of scope
	loss := func(z []float64, y int, tw float64) float64 {
		p := slices.Clone(z)
		softmax(p, 1)
		in := 0.0
		for c, v := range p {
			if group[c] == group[y] {
				in += v
			}
		}
		return -math.Log(p[y]) - tw*math.Log(in)
	}
	for _, tc := range []struct {
		name string
		y    int
		tw   float64
	}{
		{"intent-only", 2, 0},
		{"tier-weight-1", 2, 1},
		{"tier-weight-2-first-tier", 1, 2},
		{"singleton-tier", 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := slices.Clone(z)
			softmax(p, 1)
			g := make([]float32, len(z))
			lossGradient(p, tc.y, group, tc.tw, make([]float64, 4), g)
			const h = 1e-5
			for c := range z {
				up, down := slices.Clone(z), slices.Clone(z)
				up[c] += h
				down[c] -= h
				want := (loss(up, tc.y, tc.tw) - loss(down, tc.y, tc.tw)) / (2 * h)
				if math.Abs(float64(g[c])-want) > 1e-5 {
					t.Errorf("d/dz[%d] = %v, want %v", c, g[c], want)
				}
			}
		})
	}
}

// TestTrainFits checks that a model of several fits has the mean of the
// weights of single fits with consecutive seeds, is deterministic, and
// records its fit count in the model file.
func TestTrainFits(t *testing.T) {
	ex, tm := toyData()
	opts := TrainOptions{Features: FeatureSpec{HashBits: 10, WordN: 2, CharMin: 3, CharMax: 4}, Epochs: 30, CalibFrac: -1, Seed: 7}
	train := func(fits int, seed uint64) *Model {
		o := opts
		o.Fits, o.Seed = fits, seed
		m, err := Train(t.Context(), ex, tm, o)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	avg := train(3, 7)
	singles := []*Model{train(1, 7), train(1, 8), train(1, 9)}
	if singles[0].Info.Fits != 0 || avg.Info.Fits != 3 {
		t.Errorf("Info.Fits = %d, %d; want 0 (omitted), 3", singles[0].Info.Fits, avg.Info.Fits)
	}
	if slices.Equal(singles[0].w, singles[1].w) {
		t.Fatal("fits with different seeds have the same weights")
	}
	mean := func(get func(*Model) []float32) []float32 {
		out := make([]float32, len(get(avg)))
		for _, s := range singles {
			for i, v := range get(s) {
				out[i] += v / 3
			}
		}
		return out
	}
	for _, part := range []struct {
		name string
		get  func(*Model) []float32
	}{
		{"weights", func(m *Model) []float32 { return m.w }},
		{"biases", func(m *Model) []float32 { return m.b }},
	} {
		want, got := mean(part.get), part.get(avg)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-5 {
				t.Fatalf("%s[%d] = %v, want the mean of the single fits, %v", part.name, i, got[i], want[i])
			}
		}
	}
	if again := train(3, 7); !slices.Equal(again.w, avg.w) || !slices.Equal(again.b, avg.b) {
		t.Error("same data, seed and fits, different weights")
	}
	path := filepath.Join(t.TempDir(), "r.model")
	if err := SaveModel(path, avg); err != nil {
		t.Fatal(err)
	}
	got, err := LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Info.Fits != 3 {
		t.Errorf("Info.Fits after round trip = %d, want 3", got.Info.Fits)
	}
}

func TestModelFileRoundTrip(t *testing.T) {
	m := toyModel(t)
	path := filepath.Join(t.TempDir(), "r.model")
	if err := SaveModel(path, m); err != nil {
		t.Fatal(err)
	}
	got, err := LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"how do I change my pin", "card never came", "lost it", "play music"} {
		a, b := m.Score(q), got.Score(q)
		if a.Class != b.Class {
			t.Errorf("%q: class %s after round trip, want %s", q, b.Class, a.Class)
		}
		for i := range a.Tier {
			if math.Abs(a.Tier[i]-b.Tier[i]) > 0.02 { // int8 quantisation
				t.Errorf("%q: tier %d prob %v after round trip, want %v", q, i, b.Tier[i], a.Tier[i])
			}
		}
	}
	if got.Temperature != m.Temperature || len(got.Bounds) != 2 || got.OOSBound != m.OOSBound {
		t.Errorf("header not preserved: %+v", got)
	}
}

func TestDecodeModelRejects(t *testing.T) {
	var buf bytes.Buffer
	if err := EncodeModel(&buf, toyModel(t)); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	hlen := int(good[12]) | int(good[13])<<8 | int(good[14])<<16
	header := string(good[16 : 16+hlen])
	withHeader := func(h string) []byte {
		out := append([]byte{}, good[:12]...)
		out = append(out, byte(len(h)), byte(len(h)>>8), byte(len(h)>>16), byte(len(h)>>24))
		out = append(out, h...)
		return append(out, good[16+hlen:]...)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad-magic", append([]byte("NOTMODEL"), good[8:]...)},
		{"bad-version", append(append([]byte{}, good[:8]...), append([]byte{9, 0, 0, 0}, good[12:]...)...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"huge-header-length", append(append([]byte{}, good[:12]...), 0xff, 0xff, 0xff, 0x7f)},
		{"hash-bits-too-big", withHeader(strings.Replace(header, `"hash_bits":10`, `"hash_bits":30`, 1))},
		{"class-tier-out-of-range", withHeader(strings.Replace(header, `"class_tier":[`, `"class_tier":[7,`, 1))},
		{"unknown-header-field", withHeader(strings.Replace(header, `{`, `{"x":1,`, 1))},
		{"nan-temperature", withHeader(strings.Replace(header, `"temperature":1`, `"temperature":-1`, 1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeModel(tc.data); !errors.Is(err, ErrBadModel) {
				t.Errorf("err = %v, want ErrBadModel", err)
			}
		})
	}
}

func FuzzDecodeModel(f *testing.F) {
	var buf bytes.Buffer
	if err := EncodeModel(&buf, toyModel(f)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:100])
	f.Add([]byte("STRROUTE\x01\x00\x00\x00\x02\x00\x00\x00{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeModel(data)
		if err != nil {
			if !errors.Is(err, ErrBadModel) {
				t.Fatalf("error %v does not wrap ErrBadModel", err)
			}
			return
		}
		s := m.Score("how do I change my pin?")
		if len(s.Tier) != len(m.Tiers) {
			t.Fatalf("scores for %d tiers, model has %d", len(s.Tier), len(m.Tiers))
		}
		_ = RiskTier(s.Tier, m.Bounds)
	})
}

// sharedDir finds the shared folder beside the repository by walking up
// from the working directory, or skips the test.
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
			t.Skip("shared/ not found beside the repository")
		}
		dir = parent
	}
}

func TestRouterLearned(t *testing.T) {
	m := toyModel(t)
	cfg := DefaultConfig()
	cfg.Strategy, cfg.ModelFile = "learned", "toy.model"
	r, err := New(cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		query    string
		tier     string
		handoff  bool
		rule     string
		strategy string
	}{
		{"simple", "how do I change my pin", "simple", false, "", "learned"},
		{"standard", "my card has not arrived yet", "standard", false, "", "learned"},
		{"complex", "I lost my card", "complex", false, "", "learned"},
		{"out-of-scope-handoff", "what is the weather tomorrow", "simple", true, OutOfScope, "learned"},
		{"rule-beats-out-of-scope", "what is the weather, my phone was stolen", "complex", false, "stolen", "rules"},
		{"person", "can I talk to a human", "simple", true, "ask_for_person", "rules"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Route(tc.query)
			if d.Handoff != tc.handoff || d.Rule != tc.rule || d.Strategy != tc.strategy || (!tc.handoff && d.TierName != tc.tier) {
				t.Errorf("Route(%q) = %+v", tc.query, d)
			}
			if d.ComplexityScore < 1 || d.ComplexityScore > 10 || d.Risk < 0 || d.Risk > 1 {
				t.Errorf("score %v risk %v out of range", d.ComplexityScore, d.Risk)
			}
		})
	}
	cfg.Bounds = []float64{0.5}
	if _, err := New(cfg, m); err == nil {
		t.Error("wrong number of bounds accepted")
	}
}

// TestScoreConcurrent scores from many goroutines: a Model is shared by
// every request (run with -race).
func TestScoreConcurrent(t *testing.T) {
	m := toyModel(t)
	want := m.Score("I lost my card").Class
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				q := []string{"I lost my card", "change my pin", "play music"}[(g+i)%3]
				s := m.Score(q)
				if q == "I lost my card" && s.Class != want {
					t.Errorf("concurrent score %s, want %s", s.Class, want)
				}
			}
		})
	}
	wg.Wait()
}
