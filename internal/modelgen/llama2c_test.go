package modelgen

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"testing"
)

func TestWriteLlama2C(t *testing.T) {
	untied := TinyMistral() // GQA, untied head
	tied := Stories15M()
	tied.Config.VocabSize = 512 // keep the test small
	tied.Config.NumHiddenLayers = 2
	for _, tc := range []struct {
		name string
		spec Spec
	}{{"tiny-mistral-untied", untied}, {"stories-shape-tied", tied}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteLlama2C(&buf, tc.spec); err != nil {
				t.Fatal(err)
			}
			c := tc.spec.Config
			b := buf.Bytes()
			hdr := make([]int32, 7)
			if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, hdr); err != nil {
				t.Fatal(err)
			}
			vocab := int32(c.VocabSize)
			if !c.TieWordEmbeddings {
				vocab = -vocab
			}
			if want := []int32{int32(c.HiddenSize), int32(c.IntermediateSize), int32(c.NumHiddenLayers), int32(c.NumAttentionHeads), int32(c.NumKeyValueHeads), vocab, int32(c.MaxPositionEmbeddings)}; !slices.Equal(hdr, want) {
				t.Fatalf("header %v, want %v", hdr, want)
			}
			d, h, l, v, kv := c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.VocabSize, c.KVDim()
			floats := v*d + l*(2*d+2*d*d+2*kv*d+3*d*h) + d + c.MaxPositionEmbeddings*c.HeadDim
			if !c.TieWordEmbeddings {
				floats += v * d
			}
			if len(b) != 28+4*floats {
				t.Fatalf("size %d, want %d", len(b), 28+4*floats)
			}
			at := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[28+4*i:])) }
			// wq of layer 0, Meta row 1 (head 0, pair 0, second half) is HF row hd/2.
			wq := v*d + l*d
			hf := make([]float32, d)
			tc.spec.Values("model.layers.0.self_attn.q_proj.weight", int64(c.HeadDim/2*d), hf)
			for j := range d {
				if at(wq+d+j) != hf[j] {
					t.Fatalf("wq row 1 col %d = %v, want HF row %d = %v", j, at(wq+d+j), c.HeadDim/2, hf[j])
				}
			}
		})
	}
}

func TestWriteLlama2CRejects(t *testing.T) {
	theta := TinyMistral()
	theta.Config.RopeTheta = 1e6
	window := TinyMistralSlidingWindow()
	for _, tc := range []struct {
		name string
		spec Spec
	}{{"mixtral", TinyMixtral()}, {"rope-theta", theta}, {"sliding-window", window}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := WriteLlama2C(&bytes.Buffer{}, tc.spec); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestWriteLlama2CTokenizer(t *testing.T) {
	var buf bytes.Buffer
	s := TinyMistral()
	if err := WriteLlama2CTokenizer(&buf, s); err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(buf.Bytes())
	var maxLen int32
	binary.Read(r, binary.LittleEndian, &maxLen)
	var toks []string
	for r.Len() > 0 {
		var score float32
		var n int32
		binary.Read(r, binary.LittleEndian, &score)
		binary.Read(r, binary.LittleEndian, &n)
		if n < 0 || n > maxLen {
			t.Fatalf("token %d length %d (max %d)", len(toks), n, maxLen)
		}
		p := make([]byte, n)
		r.Read(p)
		toks = append(toks, string(p))
	}
	if len(toks) != s.Config.VocabSize || toks[1] != "\n<s>\n" || toks[3] != "<0x00>" || toks[259] != " " {
		t.Errorf("%d tokens, first %q", len(toks), toks[:4])
	}
}
