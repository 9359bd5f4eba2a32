// Package safetensors reads and writes the safetensors tensor file format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON describing each tensor, then the raw
// little-endian tensor data.
//
// Every byte of a safetensors file is treated as untrusted. ParseHeader
// checks the header the way the reference Rust reader does, and more:
//
//   - the header length is at most MaxHeaderSize and lies within the file;
//   - the header is valid UTF-8 and a single JSON object (trailing spaces,
//     which writers use as alignment padding, are allowed);
//   - "__metadata__", if present, is an object of string values;
//   - tensor names are unique and non-empty;
//   - each dtype is known, each dimension is a non-negative integer, and the
//     element count and byte size do not overflow;
//   - data_offsets [begin, end] have begin <= end and end - begin equals
//     product(shape) × dtype size;
//   - the tensors, sorted by offset, tile the data section exactly: no
//     overlaps and no gaps, starting at 0 and ending at the end of the file.
//     This is the rule of the reference reader (its "InvalidOffset" and
//     "MetadataIncompleteBuffer" errors), so a file accepted here loads
//     there too, and no byte of the file is left unaccounted for.
//
// Open memory-maps a file read-only and hands out zero-copy views of its
// tensors; Writer streams a file to disk tensor by tensor.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MaxHeaderSize bounds the JSON header, as the reference reader does (100 MiB).
const MaxHeaderSize = 100 << 20

// MaxRank bounds the number of dimensions of a tensor.
const MaxRank = 16

// DType is a safetensors element type, spelled as in the file ("F32", ...).
type DType string

// The element types safetensors files may hold.
const (
	F64    DType = "F64"
	F32    DType = "F32"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I64    DType = "I64"
	I32    DType = "I32"
	I16    DType = "I16"
	I8     DType = "I8"
	U8     DType = "U8"
	BOOL   DType = "BOOL"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
)

// Size returns the byte size of one element, or 0 if d is not a known dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, BOOL, F8E4M3, F8E5M2:
		return 1
	}
	return 0
}

// Valid reports whether d is a known dtype.
func (d DType) Valid() bool { return d.Size() != 0 }

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int64
	// Begin and End are the data_offsets as written in the header:
	// relative to the start of the data section, End exclusive.
	Begin, End int64
	// FileBegin and FileEnd are the same span as absolute file offsets.
	FileBegin, FileEnd int64
}

// NumElements returns the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Size returns the tensor's byte size, End - Begin.
func (t TensorInfo) Size() int64 { return t.End - t.Begin }

// Header is a parsed and validated safetensors header.
type Header struct {
	// HeaderLen is N, the JSON header's length in bytes.
	HeaderLen int64
	// DataStart is the absolute offset of the data section, 8 + N.
	DataStart int64
	// FileSize is the size of the whole file, DataStart + data length.
	FileSize int64
	// Metadata is the "__metadata__" map, or nil.
	Metadata map[string]string
	// Tensors are sorted by offset (ties, from empty tensors, by name).
	Tensors []TensorInfo

	index map[string]int
}

// Tensor returns the named tensor's description.
func (h *Header) Tensor(name string) (TensorInfo, bool) {
	i, ok := h.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return h.Tensors[i], true
}

// Shapes returns every tensor's shape by name.
func (h *Header) Shapes() map[string][]int64 {
	m := make(map[string][]int64, len(h.Tensors))
	for _, t := range h.Tensors {
		m[t.Name] = t.Shape
	}
	return m
}

// ErrInvalid is wrapped by every error that reports a malformed file.
var ErrInvalid = errors.New("invalid safetensors file")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ParseHeader reads and validates the header of a safetensors file of the
// given size. It reads only the 8-byte prefix and the JSON header, never the
// tensor data. Errors wrap ErrInvalid (or the reader's error) and name the
// offending tensor and offsets; callers add the file name.
func ParseHeader(r io.ReaderAt, size int64) (*Header, error) {
	if size < 8 {
		return nil, invalid("file is %d bytes, shorter than the 8-byte header length", size)
	}
	var prefix [8]byte
	if _, err := r.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderSize {
		return nil, invalid("header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, invalid("header length %d runs past the end of the %d-byte file", n, size)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, 8); err != nil {
		return nil, fmt.Errorf("reading %d-byte header: %w", n, err)
	}
	h, err := parseJSON(buf, size-8-int64(n))
	if err != nil {
		return nil, err
	}
	h.HeaderLen = int64(n)
	h.DataStart = 8 + int64(n)
	h.FileSize = size
	for i := range h.Tensors {
		h.Tensors[i].FileBegin = h.DataStart + h.Tensors[i].Begin
		h.Tensors[i].FileEnd = h.DataStart + h.Tensors[i].End
	}
	return h, nil
}

type rawTensor struct {
	DType       *string           `json:"dtype"`
	Shape       []json.RawMessage `json:"shape"`
	DataOffsets []json.RawMessage `json:"data_offsets"`
}

// parseJSON validates the header JSON against a data section of dataLen bytes.
func parseJSON(buf []byte, dataLen int64) (*Header, error) {
	if !utf8.Valid(buf) {
		return nil, invalid("header is not valid UTF-8")
	}
	trimmed := bytes.TrimRight(buf, " ")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, invalid("header is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return nil, invalid("header JSON: %v", err)
	}
	h := &Header{index: map[string]int{}}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("header JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, invalid("header JSON: unexpected token %v", tok)
		}
		if name == "__metadata__" {
			if seenMeta {
				return nil, invalid("duplicate __metadata__")
			}
			seenMeta = true
			var meta map[string]string
			if err := dec.Decode(&meta); err != nil {
				return nil, invalid("__metadata__ must be an object of strings: %v", err)
			}
			h.Metadata = meta
			continue
		}
		if name == "" {
			return nil, invalid("tensor with an empty name")
		}
		if _, dup := h.index[name]; dup {
			return nil, invalid("duplicate tensor %q", name)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, invalid("header JSON at tensor %q: %v", name, err)
		}
		t, err := parseTensor(name, raw)
		if err != nil {
			return nil, err
		}
		h.index[name] = len(h.Tensors)
		h.Tensors = append(h.Tensors, t)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, invalid("header JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("trailing data after the header JSON object")
	}
	slices.SortStableFunc(h.Tensors, func(a, b TensorInfo) int {
		if a.Begin != b.Begin {
			if a.Begin < b.Begin {
				return -1
			}
			return 1
		}
		if a.End != b.End {
			if a.End < b.End {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	var pos int64
	for i, t := range h.Tensors {
		h.index[t.Name] = i
		switch {
		case t.Begin < pos:
			prev := h.Tensors[i-1]
			return nil, invalid("tensor %q data_offsets [%d,%d] overlap tensor %q [%d,%d]",
				t.Name, t.Begin, t.End, prev.Name, prev.Begin, prev.End)
		case t.Begin > pos:
			return nil, invalid("gap in the data section: bytes [%d,%d) before tensor %q belong to no tensor", pos, t.Begin, t.Name)
		}
		if t.End > dataLen {
			return nil, invalid("tensor %q data_offsets [%d,%d] run past the %d-byte data section", t.Name, t.Begin, t.End, dataLen)
		}
		pos = t.End
	}
	if pos != dataLen {
		return nil, invalid("data section is %d bytes but the tensors cover %d: the file is truncated or has trailing bytes", dataLen, pos)
	}
	return h, nil
}

func parseTensor(name string, raw json.RawMessage) (TensorInfo, error) {
	t := TensorInfo{Name: name}
	var rt rawTensor
	if len(raw) == 0 || raw[0] != '{' {
		return t, invalid("tensor %q: entry is not a JSON object", name)
	}
	if err := json.Unmarshal(raw, &rt); err != nil {
		return t, invalid("tensor %q: %v", name, err)
	}
	if rt.DType == nil {
		return t, invalid("tensor %q: missing dtype", name)
	}
	t.DType = DType(*rt.DType)
	if !t.DType.Valid() {
		return t, invalid("tensor %q: unknown dtype %q", name, *rt.DType)
	}
	if rt.Shape == nil {
		return t, invalid("tensor %q: missing shape", name)
	}
	if len(rt.Shape) > MaxRank {
		return t, invalid("tensor %q: rank %d exceeds %d", name, len(rt.Shape), MaxRank)
	}
	t.Shape = make([]int64, len(rt.Shape))
	count := uint64(1)
	overflow := false
	for i, s := range rt.Shape {
		d, err := parseInt(s)
		if err != nil || d < 0 {
			return t, invalid("tensor %q: shape[%d] = %s is not a non-negative integer", name, i, s)
		}
		t.Shape[i] = d
		hi, lo := bits.Mul64(count, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			overflow = true
		}
		count = lo
	}
	if len(rt.DataOffsets) != 2 {
		return t, invalid("tensor %q: data_offsets must be [begin, end]", name)
	}
	var off [2]int64
	for i, s := range rt.DataOffsets {
		v, err := parseInt(s)
		if err != nil || v < 0 {
			return t, invalid("tensor %q: data_offsets[%d] = %s is not a non-negative integer", name, i, s)
		}
		off[i] = v
	}
	t.Begin, t.End = off[0], off[1]
	if t.Begin > t.End {
		return t, invalid("tensor %q: data_offsets [%d,%d] have begin > end", name, t.Begin, t.End)
	}
	if hasZero(t.Shape) {
		overflow = false
		count = 0
	}
	hi, want := bits.Mul64(count, uint64(t.DType.Size()))
	if overflow || hi != 0 || want > math.MaxInt64 {
		return t, invalid("tensor %q: shape %v × %s overflows", name, t.Shape, t.DType)
	}
	if span := t.End - t.Begin; uint64(span) != want {
		return t, invalid("tensor %q: shape %v × %s is %d bytes but data_offsets [%d,%d] span %d",
			name, t.Shape, t.DType, want, t.Begin, t.End, span)
	}
	return t, nil
}

// parseInt parses a JSON integer literal (not a string, not a float).
func parseInt(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, errors.New("not a number")
	}
	return strconv.ParseInt(string(raw), 10, 64)
}

func hasZero(shape []int64) bool {
	return slices.Contains(shape, 0)
}
