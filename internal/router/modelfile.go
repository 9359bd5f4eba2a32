package router

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Model file format, version 1 (all integers little-endian):
//
//	magic    [8]byte  "STRROUTE"
//	version  uint32   1
//	hlen     uint32   length of the header, at most 1 MiB
//	header   [hlen]byte JSON: fileHeader
//	scales   [classes]float32  per-class dequantisation scale
//	bias     [classes]float32
//	weights  [dims*classes]int8 feature-major; w = int8 × scale[class]
//
// Nothing may follow the weights. Weights are quantised to int8 per class
// (scale = max |w| / 127), which makes a 2^16-bucket, 78-class model 5 MB.
const (
	modelMagic   = "STRROUTE"
	modelVersion = 1
	maxHeader    = 1 << 20
)

type fileHeader struct {
	Features    FeatureSpec `json:"features"`
	Tiers       []string    `json:"tiers"`
	Classes     []string    `json:"classes"`
	ClassTier   []int       `json:"class_tier"`
	Temperature float64     `json:"temperature"`
	Bounds      []float64   `json:"bounds"`
	OOSBound    float64     `json:"oos_bound"`
	Info        TrainInfo   `json:"info"`
}

// EncodeModel writes m in the model file format.
func EncodeModel(w io.Writer, m *Model) error {
	h := fileHeader{
		Features: m.Spec, Tiers: m.Tiers, Classes: m.Classes, ClassTier: m.ClassTier,
		Temperature: m.Temperature, Bounds: m.Bounds, OOSBound: m.OOSBound, Info: m.Info,
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encoding model header: %w", err)
	}
	nc := len(m.Classes)
	scales := make([]float32, nc)
	for i := 0; i < len(m.w); i += nc {
		for c, v := range m.w[i : i+nc] {
			scales[c] = max(scales[c], float32(math.Abs(float64(v))))
		}
	}
	for c := range scales {
		scales[c] /= 127
	}
	q := make([]byte, len(m.w))
	for i, v := range m.w {
		s := scales[i%nc]
		if s > 0 {
			q[i] = byte(int8(math.Round(float64(v / s))))
		}
	}
	var buf bytes.Buffer
	buf.WriteString(modelMagic)
	binary.Write(&buf, binary.LittleEndian, uint32(modelVersion))
	binary.Write(&buf, binary.LittleEndian, uint32(len(hj)))
	buf.Write(hj)
	binary.Write(&buf, binary.LittleEndian, scales)
	binary.Write(&buf, binary.LittleEndian, m.b)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing model: %w", err)
	}
	if _, err := w.Write(q); err != nil {
		return fmt.Errorf("writing model: %w", err)
	}
	return nil
}

// ErrBadModel is wrapped by every [DecodeModel] error about the bytes.
var ErrBadModel = errors.New("bad router model")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadModel, fmt.Sprintf(format, args...))
}

// DecodeModel reads a model file. It checks every length against the
// header and the header against the format's limits before allocating, so
// corrupt or hostile bytes give an error wrapping [ErrBadModel], never a
// panic or a huge allocation.
func DecodeModel(data []byte) (*Model, error) {
	if len(data) < 16 || string(data[:8]) != modelMagic {
		return nil, bad("not a router model file")
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != modelVersion {
		return nil, bad("version %d, want %d", v, modelVersion)
	}
	hlen := binary.LittleEndian.Uint32(data[12:])
	if hlen > maxHeader || uint64(hlen) > uint64(len(data)-16) {
		return nil, bad("header length %d", hlen)
	}
	var h fileHeader
	dec := json.NewDecoder(bytes.NewReader(data[16 : 16+hlen]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, bad("header: %v", err)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	nc := len(h.Classes)
	dims := 1 << h.Features.HashBits
	rest := data[16+hlen:]
	want := 8*nc + dims*nc
	if len(rest) != want {
		return nil, bad("%d bytes of weights, want %d", len(rest), want)
	}
	m := &Model{
		Spec: h.Features, Tiers: h.Tiers, Classes: h.Classes, ClassTier: h.ClassTier,
		Temperature: h.Temperature, Bounds: h.Bounds, OOSBound: h.OOSBound, Info: h.Info,
		w: make([]float32, dims*nc), b: make([]float32, nc),
	}
	scales := make([]float32, nc)
	for c := range nc {
		scales[c] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*c:]))
		m.b[c] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*(nc+c):]))
		if !finite32(scales[c]) || scales[c] < 0 || !finite32(m.b[c]) {
			return nil, bad("class %d: scale %v, bias %v", c, scales[c], m.b[c])
		}
	}
	for i, q := range rest[8*nc:] {
		m.w[i] = float32(int8(q)) * scales[i%nc]
	}
	return m, nil
}

func finite32(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

// check validates a header against the format's limits.
func (h *fileHeader) check() error {
	switch {
	case !h.Features.valid():
		return bad("feature spec %+v", h.Features)
	case len(h.Tiers) < 1 || len(h.Tiers) > maxTiers:
		return bad("%d tiers", len(h.Tiers))
	case len(h.Classes) < 1 || len(h.Classes) > maxClasses:
		return bad("%d classes", len(h.Classes))
	case len(h.ClassTier) != len(h.Classes):
		return bad("%d class tiers for %d classes", len(h.ClassTier), len(h.Classes))
	case len(h.Bounds) != len(h.Tiers)-1:
		return bad("%d bounds for %d tiers", len(h.Bounds), len(h.Tiers))
	case !(h.Temperature > 0 && h.Temperature < 1e6):
		return bad("temperature %v", h.Temperature)
	case !(h.OOSBound >= 0 && h.OOSBound <= 1):
		return bad("oos bound %v", h.OOSBound)
	}
	for _, t := range h.ClassTier {
		if t < -1 || t >= len(h.Tiers) {
			return bad("class tier %d", t)
		}
	}
	for _, b := range h.Bounds {
		if !(b >= 0 && b <= 1) {
			return bad("bound %v", b)
		}
	}
	if uint64(len(h.Classes))<<h.Features.HashBits > 1<<28 {
		return bad("%d classes × 2^%d buckets is too large", len(h.Classes), h.Features.HashBits)
	}
	return nil
}

// LoadModel reads and decodes a model file.
func LoadModel(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading router model: %w", err)
	}
	m, err := DecodeModel(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// SaveModel encodes m to path (written to a temporary file, then renamed).
func SaveModel(path string, m *Model) error {
	var buf bytes.Buffer
	if err := EncodeModel(&buf, m); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing router model: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing router model: %w", err)
	}
	return nil
}
