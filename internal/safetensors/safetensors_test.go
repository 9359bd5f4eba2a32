package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// build assembles a file from a raw header JSON and a data section.
func build(hdr string, data []byte) []byte {
	b := make([]byte, 8, 8+len(hdr)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, data...)
}

func parse(b []byte) (*Header, error) {
	return ParseHeader(bytes.NewReader(b), int64(len(b)))
}

func TestParseHeader(t *testing.T) {
	good := `{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}`
	hugeLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(hugeLen, MaxHeaderSize+1)
	pastEnd := make([]byte, 16)
	binary.LittleEndian.PutUint64(pastEnd, 100)
	tests := []struct {
		name    string
		file    []byte
		wantErr string // substring; empty means success
	}{
		{"valid", build(good, make([]byte, 16)), ""},
		{"valid-padded-header", build(good+"    ", make([]byte, 16)), ""},
		{"valid-empty", build(`{}`, nil), ""},
		{"valid-zero-size-tensor", build(`{"z":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"s":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}`, []byte{7}), ""},
		{"truncated-prefix", []byte{1, 2, 3}, "shorter than the 8-byte"},
		{"header-length-past-file", pastEnd, "runs past the end"},
		{"header-length-over-limit", hugeLen, "exceeds the limit"},
		{"truncated-data", build(good, make([]byte, 15)), "run past"},
		{"trailing-bytes", build(good, make([]byte, 17)), "trailing bytes"},
		{"overlapping-offsets", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), "overlap"},
		{"gap", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "gap"},
		{"bad-dtype", build(`{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}`, make([]byte, 16)), "unknown dtype"},
		{"missing-dtype", build(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "missing dtype"},
		{"shape-span-mismatch", build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "span 8"},
		{"negative-dim", build(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), "non-negative"},
		{"string-dim", build(`{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, make([]byte, 4)), "non-negative"},
		{"string-offset", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":["0",4]}}`, make([]byte, 4)), "non-negative"},
		{"fractional-dim", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, make([]byte, 4)), "non-negative"},
		{"overflowing-dims", build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, make([]byte, 4)), "overflows"},
		{"dim-past-int64", build(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}`, make([]byte, 4)), "non-negative"},
		{"begin-after-end", build(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, make([]byte, 4)), "begin > end"},
		{"offsets-wrong-arity", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0]}}`, make([]byte, 4)), "data_offsets must be"},
		{"duplicate-names", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), "duplicate tensor"},
		{"non-object-json", build(`[1,2,3]`, nil), "not a JSON object"},
		{"invalid-json", build(`{"a":`, nil), "header JSON"},
		{"trailing-json", build(`{}{}`, nil), "trailing data"},
		{"tensor-not-object", build(`{"a":[1]}`, nil), "not a JSON object"},
		{"metadata-not-strings", build(`{"__metadata__":{"x":1}}`, nil), "__metadata__"},
		{"invalid-utf8", build("{\"\xff\":{}}", nil), "UTF-8"},
		{"empty-name", build(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)), "empty name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parse(tc.file)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if h.FileSize != int64(len(tc.file)) {
					t.Errorf("FileSize = %d, want %d", h.FileSize, len(tc.file))
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestParseHeaderSortsAndLocates(t *testing.T) {
	hdr := `{"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}`
	h, err := parse(build(hdr, make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{h.Tensors[0].Name, h.Tensors[1].Name}; !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("order = %v", got)
	}
	b, ok := h.Tensor("b")
	if !ok || b.FileBegin != 8+int64(len(hdr))+8 || b.FileEnd != b.FileBegin+8 || b.NumElements() != 2 {
		t.Errorf("tensor b = %+v", b)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	specs := []TensorSpec{
		{Name: "w", DType: F32, Shape: []int64{2, 3}},
		{Name: "empty", DType: F32, Shape: []int64{0}},
		{Name: "h", DType: F16, Shape: []int64{3}},
		{Name: "bf", DType: BF16, Shape: []int64{2}},
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, specs, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	wv := []float32{1, -2, 3.5, 0, 1e-3, -7}
	wb := make([]byte, 24)
	for i, v := range wv {
		binary.LittleEndian.PutUint32(wb[4*i:], math.Float32bits(v))
	}
	// Stream the first tensor in two chunks through Write.
	if _, err := w.Write(wb[:10]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(wb[10:]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensor("bf", make([]byte, 4)); err == nil {
		t.Error("out-of-order WriteTensor succeeded")
	}
	hv := []float32{0.5, -65504, 6e-8}
	hb := make([]byte, 6)
	for i, v := range hv {
		binary.LittleEndian.PutUint16(hb[2*i:], F32ToF16(v))
	}
	if err := w.WriteTensor("h", hb); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close of an incomplete file succeeded")
	}
	bb := make([]byte, 4)
	binary.LittleEndian.PutUint16(bb, F32ToBF16(1.5))
	binary.LittleEndian.PutUint16(bb[2:], F32ToBF16(-3))
	if err := w.WriteTensor("bf", bb); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{0}); err == nil {
		t.Error("write past the end succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Size() != w.FileSize() {
		t.Errorf("size %d, FileSize %d", st.Size(), w.FileSize())
	}

	sf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	if sf.Header.DataStart%8 != 0 {
		t.Errorf("data start %d not 8-aligned", sf.Header.DataStart)
	}
	if sf.Header.Metadata["format"] != "pt" {
		t.Errorf("metadata = %v", sf.Header.Metadata)
	}
	for _, tc := range []struct {
		name string
		want []float32
	}{
		{"w", wv},
		{"empty", []float32{}},
		{"h", []float32{0.5, -65504, F16ToF32(F32ToF16(6e-8))}},
		{"bf", []float32{1.5, -3}},
	} {
		got, err := sf.Float32s(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, _, err := sf.Bytes("nope"); err == nil {
		t.Error("missing tensor found")
	}
}

func TestNewWriterRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []TensorSpec
	}{
		{"duplicate", []TensorSpec{{"a", F32, []int64{1}}, {"a", F32, []int64{1}}}},
		{"bad-dtype", []TensorSpec{{"a", "X", []int64{1}}}},
		{"negative-dim", []TensorSpec{{"a", F32, []int64{-1}}}},
		{"metadata-name", []TensorSpec{{"__metadata__", F32, []int64{1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewWriter(&bytes.Buffer{}, tc.specs, nil); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestHalfConversions(t *testing.T) {
	// Every finite half converts to float32 and back unchanged.
	for h := range 1 << 16 {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("F16 %#04x -> %v -> %#04x", h, f, back)
		}
		if back := F32ToBF16(BF16ToF32(uint16(h))); back != uint16(h) && !math.IsNaN(float64(BF16ToF32(uint16(h)))) {
			t.Fatalf("BF16 %#04x round trip -> %#04x", h, back)
		}
	}
	for _, tc := range []struct {
		name string
		in   float32
		f16  uint16
		bf16 uint16
	}{
		{"one", 1, 0x3c00, 0x3f80},
		{"overflow", 1e6, 0x7c00, 0x4974},
		{"tie-to-even", 1 + 1.0/2048, 0x3c00, 0x3f80},
		{"smallest-subnormal", 5.960464477539063e-08, 0x0001, 0x3380},
		{"underflow", 1e-9, 0x0000, 0x3089},
		{"negative", -2, 0xc000, 0xc000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := F32ToF16(tc.in); got != tc.f16 {
				t.Errorf("F32ToF16(%v) = %#04x, want %#04x", tc.in, got, tc.f16)
			}
			if got := F32ToBF16(tc.in); got != tc.bf16 {
				t.Errorf("F32ToBF16(%v) = %#04x, want %#04x", tc.in, got, tc.bf16)
			}
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(build(`{"__metadata__":{"a":"b"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(build(`{"a":{"dtype":"BF16","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(build(`{}`, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parse(b)
		if err != nil {
			return
		}
		// Invariants of an accepted header.
		pos := h.DataStart
		for _, ti := range h.Tensors {
			if ti.FileBegin != pos || ti.FileEnd < ti.FileBegin {
				t.Fatalf("tensor %q at [%d,%d), expected start %d", ti.Name, ti.FileBegin, ti.FileEnd, pos)
			}
			if ti.Size() != ti.NumElements()*int64(ti.DType.Size()) {
				t.Fatalf("tensor %q size mismatch", ti.Name)
			}
			pos = ti.FileEnd
		}
		if pos != int64(len(b)) {
			t.Fatalf("tensors end at %d of %d", pos, len(b))
		}
	})
}
