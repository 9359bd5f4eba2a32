package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// TensorSpec declares one tensor for a Writer.
type TensorSpec struct {
	Name  string
	DType DType
	Shape []int64
}

// Writer streams a safetensors file: NewWriter writes the header for all
// declared tensors at once, then the data follows tensor by tensor in the
// declared order, so no tensor need be held in memory whole. The data
// section is laid out contiguously in declaration order; the header is
// padded with spaces so the data starts 8-byte aligned, as the Hugging Face
// writer does.
type Writer struct {
	w       io.Writer
	specs   []TensorInfo
	written int64 // bytes of the data section written so far
	total   int64 // bytes the data section must hold
	hdrLen  int64
	next    int // index of the first tensor WriteTensor may write
}

// NewWriter validates specs, writes the header to w and returns a Writer
// for the data. metadata may be nil.
func NewWriter(w io.Writer, specs []TensorSpec, metadata map[string]string) (*Writer, error) {
	hdr, infos, total, err := EncodeHeader(specs, metadata)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("writing safetensors header: %w", err)
	}
	return &Writer{w: w, specs: infos, total: total, hdrLen: int64(len(hdr))}, nil
}

// EncodeHeader returns the complete file prefix (8-byte length and padded
// JSON) for the tensors laid out contiguously in the given order, with
// their offsets and the data section's length.
func EncodeHeader(specs []TensorSpec, metadata map[string]string) ([]byte, []TensorInfo, int64, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		sb.WriteString(`"__metadata__":{`)
		for i, k := range slices.Sorted(maps.Keys(metadata)) {
			if i > 0 {
				sb.WriteByte(',')
			}
			writeJSONString(&sb, k)
			sb.WriteByte(':')
			writeJSONString(&sb, metadata[k])
		}
		sb.WriteByte('}')
		first = false
	}
	infos := make([]TensorInfo, len(specs))
	seen := make(map[string]bool, len(specs))
	var off int64
	for i, s := range specs {
		if s.Name == "" || s.Name == "__metadata__" {
			return nil, nil, 0, fmt.Errorf("invalid tensor name %q", s.Name)
		}
		if seen[s.Name] {
			return nil, nil, 0, fmt.Errorf("duplicate tensor %q", s.Name)
		}
		seen[s.Name] = true
		if !s.DType.Valid() {
			return nil, nil, 0, fmt.Errorf("tensor %q: unknown dtype %q", s.Name, s.DType)
		}
		n := int64(s.DType.Size())
		for _, d := range s.Shape {
			if d < 0 || (d > 0 && n > (1<<62)/d) {
				return nil, nil, 0, fmt.Errorf("tensor %q: bad shape %v", s.Name, s.Shape)
			}
			n *= d
		}
		infos[i] = TensorInfo{Name: s.Name, DType: s.DType, Shape: slices.Clone(s.Shape), Begin: off, End: off + n}
		off += n
		if !first {
			sb.WriteByte(',')
		}
		first = false
		writeJSONString(&sb, s.Name)
		sb.WriteString(`:{"dtype":"`)
		sb.WriteString(string(s.DType))
		sb.WriteString(`","shape":[`)
		for j, d := range s.Shape {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatInt(d, 10))
		}
		sb.WriteString(`],"data_offsets":[`)
		sb.WriteString(strconv.FormatInt(infos[i].Begin, 10))
		sb.WriteByte(',')
		sb.WriteString(strconv.FormatInt(infos[i].End, 10))
		sb.WriteString("]}")
	}
	sb.WriteByte('}')
	for (8+sb.Len())%8 != 0 {
		sb.WriteByte(' ')
	}
	if sb.Len() > MaxHeaderSize {
		return nil, nil, 0, fmt.Errorf("header of %d bytes exceeds the limit", sb.Len())
	}
	out := make([]byte, 8, 8+sb.Len())
	binary.LittleEndian.PutUint64(out, uint64(sb.Len()))
	out = append(out, sb.String()...)
	for i := range infos {
		infos[i].FileBegin = int64(len(out)) + infos[i].Begin
		infos[i].FileEnd = int64(len(out)) + infos[i].End
	}
	return out, infos, off, nil
}

func writeJSONString(sb *strings.Builder, s string) {
	b, _ := json.Marshal(s) // strings always marshal
	sb.Write(b)
}

// Tensors returns the declared tensors with their offsets.
func (w *Writer) Tensors() []TensorInfo { return w.specs }

// FileSize returns the size the finished file will have.
func (w *Writer) FileSize() int64 { return w.hdrLen + w.total }

// Write writes raw data-section bytes: the tensors' little-endian data in
// declaration order, in chunks of any size. Writing past the declared
// total is an error.
func (w *Writer) Write(p []byte) (int, error) {
	if int64(len(p)) > w.total-w.written {
		return 0, fmt.Errorf("safetensors writer: %d bytes past the declared %d-byte data section", int64(len(p))-(w.total-w.written), w.total)
	}
	n, err := w.w.Write(p)
	w.written += int64(n)
	if err != nil {
		return n, fmt.Errorf("writing safetensors data: %w", err)
	}
	return n, nil
}

// WriteTensor writes one whole tensor, which must be the next one due.
func (w *Writer) WriteTensor(name string, data []byte) error {
	for i := w.next; i < len(w.specs); i++ {
		t := w.specs[i]
		if t.Begin < w.written && t.End <= w.written {
			continue // already streamed through Write
		}
		if t.Begin != w.written {
			break
		}
		if t.Name != name {
			continue // an empty tensor needs no data
		}
		if int64(len(data)) != t.Size() {
			return fmt.Errorf("safetensors writer: tensor %q needs %d bytes, got %d", name, t.Size(), len(data))
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		w.next = i + 1
		return nil
	}
	return fmt.Errorf("safetensors writer: tensor %q written out of order", name)
}

// Next returns the tensor the next data byte belongs to, or false once the
// data section is complete.
func (w *Writer) Next() (TensorInfo, bool) {
	for i := w.next; i < len(w.specs); i++ {
		if t := w.specs[i]; t.End > w.written {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// Close checks that all data was written. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.written != w.total {
		return fmt.Errorf("safetensors writer: %d of %d data bytes written", w.written, w.total)
	}
	return nil
}
