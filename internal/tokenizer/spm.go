package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"golang.org/x/text/unicode/norm"
)

// PieceType is a SentencePiece piece type (ModelProto.SentencePiece.Type).
type PieceType int32

// The SentencePiece piece types.
const (
	PieceNormal      PieceType = 1
	PieceUnknown     PieceType = 2
	PieceControl     PieceType = 3
	PieceUserDefined PieceType = 4
	PieceUnused      PieceType = 5
	PieceByte        PieceType = 6
)

// SentencePiece model types (TrainerSpec.ModelType).
const (
	ModelUnigram = 1
	ModelBPE     = 2
)

// Piece is one vocabulary entry of a SentencePiece model.
type Piece struct {
	Text  string // with spaces escaped as "▁"
	Score float32
	Type  PieceType
}

// SentencePieceModel is the part of a SentencePiece ModelProto
// (tokenizer.model) that encoding needs. Fields absent from a file take
// SentencePiece's proto defaults.
type SentencePieceModel struct {
	Pieces                 []Piece
	ModelType              int32 // ModelBPE; unigram models are parsed but cannot be used
	ByteFallback           bool
	UnkID, BOSID, EOSID    int32 // -1 when disabled
	PadID                  int32
	NormalizerName         string // "identity" is exact; "nmt_nfkc"-style rules are approximated by NFKC
	AddDummyPrefix         bool
	RemoveExtraWhitespaces bool
}

// Limits for tokenizer.model.
const maxModelBytes = 64 << 20

// LoadSentencePiece reads a tokenizer.model and builds its Tokenizer.
func LoadSentencePiece(r io.Reader) (*Tokenizer, error) {
	m, err := ReadSentencePiece(r)
	if err != nil {
		return nil, err
	}
	return m.Tokenizer()
}

// ReadSentencePiece parses a SentencePiece ModelProto. The input is bounded
// (64 MiB, 4M pieces) and checked; malformed input is an error, never a panic.
func ReadSentencePiece(r io.Reader) (*SentencePieceModel, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading tokenizer.model: %w", err)
	}
	if len(data) > maxModelBytes {
		return nil, fmt.Errorf("tokenizer.model larger than %d bytes", maxModelBytes)
	}
	m, err := parseModelProto(data)
	if err != nil {
		return nil, fmt.Errorf("parsing tokenizer.model: %w", err)
	}
	return m, nil
}

// protobuf wire types
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

var errTruncated = errors.New("truncated protobuf")

type pbReader struct{ b []byte }

func (p *pbReader) varint() (uint64, error) {
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		return 0, errTruncated
	}
	p.b = p.b[n:]
	return v, nil
}

// next returns the next field number, wire type and payload (for varint the
// value, for fixed32 the bits, for bytes the slice).
func (p *pbReader) next() (num int, wt int, v uint64, bs []byte, err error) {
	key, err := p.varint()
	if err != nil {
		return 0, 0, 0, nil, err
	}
	num, wt = int(key>>3), int(key&7)
	if num == 0 {
		return 0, 0, 0, nil, errors.New("protobuf field number 0")
	}
	switch wt {
	case wireVarint:
		v, err = p.varint()
	case wireFixed64:
		if len(p.b) < 8 {
			return 0, 0, 0, nil, errTruncated
		}
		v = binary.LittleEndian.Uint64(p.b)
		p.b = p.b[8:]
	case wireFixed32:
		if len(p.b) < 4 {
			return 0, 0, 0, nil, errTruncated
		}
		v = uint64(binary.LittleEndian.Uint32(p.b))
		p.b = p.b[4:]
	case wireBytes:
		var n uint64
		if n, err = p.varint(); err != nil {
			return
		}
		if n > uint64(len(p.b)) {
			return 0, 0, 0, nil, errTruncated
		}
		bs, p.b = p.b[:n], p.b[n:]
	default:
		return 0, 0, 0, nil, fmt.Errorf("unsupported protobuf wire type %d", wt)
	}
	return num, wt, v, bs, err
}

func parseModelProto(data []byte) (*SentencePieceModel, error) {
	m := &SentencePieceModel{ModelType: ModelUnigram, UnkID: 0, BOSID: 1, EOSID: 2, PadID: -1,
		NormalizerName: "nmt_nfkc", AddDummyPrefix: true, RemoveExtraWhitespaces: true}
	p := pbReader{data}
	for len(p.b) > 0 {
		num, wt, _, bs, err := p.next()
		if err != nil {
			return nil, err
		}
		if wt != wireBytes {
			continue
		}
		switch num {
		case 1:
			if len(m.Pieces) >= maxVocab {
				return nil, fmt.Errorf("more than %d pieces", maxVocab)
			}
			pc, err := parsePiece(bs)
			if err != nil {
				return nil, fmt.Errorf("piece %d: %w", len(m.Pieces), err)
			}
			m.Pieces = append(m.Pieces, pc)
		case 2:
			if err := m.parseTrainerSpec(bs); err != nil {
				return nil, fmt.Errorf("trainer_spec: %w", err)
			}
		case 3:
			if err := m.parseNormalizerSpec(bs); err != nil {
				return nil, fmt.Errorf("normalizer_spec: %w", err)
			}
		}
	}
	if len(m.Pieces) == 0 {
		return nil, errors.New("no pieces")
	}
	return m, nil
}

func parsePiece(b []byte) (Piece, error) {
	pc := Piece{Type: PieceNormal}
	p := pbReader{b}
	for len(p.b) > 0 {
		num, wt, v, bs, err := p.next()
		if err != nil {
			return pc, err
		}
		switch {
		case num == 1 && wt == wireBytes:
			if len(bs) > maxPieceBytes {
				return pc, fmt.Errorf("piece of %d bytes", len(bs))
			}
			pc.Text = string(bs)
		case num == 2 && wt == wireFixed32:
			pc.Score = math.Float32frombits(uint32(v))
		case num == 3 && wt == wireVarint:
			pc.Type = PieceType(int32(v))
		}
	}
	return pc, nil
}

func (m *SentencePieceModel) parseTrainerSpec(b []byte) error {
	p := pbReader{b}
	for len(p.b) > 0 {
		num, wt, v, _, err := p.next()
		if err != nil {
			return err
		}
		if wt != wireVarint {
			continue
		}
		switch num {
		case 3:
			m.ModelType = int32(v)
		case 35:
			m.ByteFallback = v != 0
		case 40:
			m.UnkID = int32(v)
		case 41:
			m.BOSID = int32(v)
		case 42:
			m.EOSID = int32(v)
		case 43:
			m.PadID = int32(v)
		}
	}
	return nil
}

func (m *SentencePieceModel) parseNormalizerSpec(b []byte) error {
	p := pbReader{b}
	for len(p.b) > 0 {
		num, wt, v, bs, err := p.next()
		if err != nil {
			return err
		}
		switch {
		case num == 1 && wt == wireBytes:
			m.NormalizerName = string(bs)
		case num == 3 && wt == wireVarint:
			m.AddDummyPrefix = v != 0
		case num == 4 && wt == wireVarint:
			m.RemoveExtraWhitespaces = v != 0
		}
	}
	return nil
}

// WriteTo serialises m as a SentencePiece ModelProto (a tokenizer.model that
// ReadSentencePiece, Load and the sentencepiece library read).
func (m *SentencePieceModel) WriteTo(w io.Writer) (int64, error) {
	var buf []byte
	for _, pc := range m.Pieces {
		var b []byte
		b = appendBytesField(b, 1, []byte(pc.Text))
		b = binary.AppendUvarint(b, 2<<3|wireFixed32)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(pc.Score))
		b = appendVarintField(b, 3, uint64(int64(pc.Type)))
		buf = appendBytesField(buf, 1, b)
	}
	var ts []byte
	ts = appendVarintField(ts, 3, uint64(int64(m.ModelType)))
	ts = appendVarintField(ts, 4, uint64(len(m.Pieces)))
	ts = appendVarintField(ts, 35, boolVal(m.ByteFallback))
	ts = appendVarintField(ts, 40, uint64(int64(m.UnkID)))
	ts = appendVarintField(ts, 41, uint64(int64(m.BOSID)))
	ts = appendVarintField(ts, 42, uint64(int64(m.EOSID)))
	ts = appendVarintField(ts, 43, uint64(int64(m.PadID)))
	buf = appendBytesField(buf, 2, ts)
	var ns []byte
	ns = appendBytesField(ns, 1, []byte(m.NormalizerName))
	ns = appendVarintField(ns, 3, boolVal(m.AddDummyPrefix))
	ns = appendVarintField(ns, 4, boolVal(m.RemoveExtraWhitespaces))
	ns = appendVarintField(ns, 5, 1) // escape_whitespaces
	buf = appendBytesField(buf, 3, ns)
	n, err := w.Write(buf)
	return int64(n), err
}

func boolVal(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func appendVarintField(b []byte, num int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireVarint)
	return binary.AppendUvarint(b, v)
}

func appendBytesField(b []byte, num int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// Tokenizer builds the encoder for m. Only BPE models are supported.
// Control pieces become special tokens (recognised by EncodeSpecial only),
// user-defined pieces become added tokens (recognised everywhere).
func (m *SentencePieceModel) Tokenizer() (*Tokenizer, error) {
	if m.ModelType != ModelBPE {
		return nil, fmt.Errorf("sentencepiece model type %d is not supported (only BPE)", m.ModelType)
	}
	n := len(m.Pieces)
	if n == 0 || n > maxVocab {
		return nil, fmt.Errorf("sentencepiece model with %d pieces", n)
	}
	pieces := make([]string, n)
	for i, pc := range m.Pieces {
		pieces[i] = pc.Text
	}
	t := &Tokenizer{bos: -1, dummyPrefix: -1}
	if err := t.setVocab(pieces); err != nil {
		return nil, err
	}
	model := bpe{vocab: make(map[string]int32, n), unk: -1, byteFallback: m.ByteFallback}
	for b := range 256 {
		model.byteIDs[b] = -1
	}
	for i, pc := range m.Pieces {
		switch pc.Type {
		case PieceNormal, PieceUserDefined, PieceUnused:
			if _, dup := model.vocab[pc.Text]; !dup {
				model.vocab[pc.Text] = int32(i)
			}
		case PieceByte:
			if b, ok := parseByteToken(pc.Text); ok {
				model.byteIDs[b] = int32(i)
			}
		case PieceUnknown:
			model.unk = int32(i)
		}
		switch pc.Type {
		case PieceControl, PieceUnknown:
			if pc.Text != "" {
				t.added = append(t.added, addedToken{content: pc.Text, id: i, special: true})
			}
			t.special[i] = true
		case PieceUserDefined:
			t.added = append(t.added, addedToken{content: pc.Text, id: i})
		}
	}
	if m.UnkID >= 0 && int(m.UnkID) < n {
		model.unk = m.UnkID
	}
	model.merges = scoreMerges(m.Pieces, model.vocab)
	t.bpe = model
	t.bpe.setSpaceSplit("▁")
	t.cache = make(map[string][]int)
	switch m.NormalizerName {
	case "identity", "":
	default:
		t.normalizers = append(t.normalizers, formNorm{norm.NFKC})
	}
	t.normalizers = append(t.normalizers, spmNorm{addDummyPrefix: m.AddDummyPrefix,
		removeExtraWhitespaces: m.RemoveExtraWhitespaces})
	t.dec = decoder{spaceRepl: "▁", byteFallback: true}
	if m.AddDummyPrefix {
		t.dec.stripFirst = 1
		if id, ok := model.vocab["▁"]; ok {
			t.dummyPrefix = int(id)
		}
	}
	t.finishAdded()
	if m.BOSID >= 0 && int(m.BOSID) < n {
		t.bos, t.addBOS = int(m.BOSID), true
	}
	if m.EOSID >= 0 && int(m.EOSID) < n {
		t.eos = []int{int(m.EOSID)}
	}
	return t, t.checkIDs()
}

// scoreMerges derives merge priorities from piece scores: any two pieces whose
// concatenation is a piece may merge, higher scores first, equal scores
// leftmost first (sentencepiece's bpe_model.cc).
func scoreMerges(pieces []Piece, vocab map[string]int32) map[uint64]merge {
	scores := make([]float32, 0, len(pieces))
	for _, pc := range pieces {
		scores = append(scores, pc.Score)
	}
	slices.Sort(scores)
	scores = slices.Compact(scores)
	rankOf := func(s float32) int32 { // higher score, lower rank
		i, _ := slices.BinarySearch(scores, s)
		return int32(len(scores) - 1 - i)
	}
	merges := make(map[uint64]merge, len(pieces))
	for i, pc := range pieces {
		if pc.Type != PieceNormal && pc.Type != PieceUserDefined && pc.Type != PieceUnused {
			continue
		}
		if vocab[pc.Text] != int32(i) {
			continue
		}
		s := pc.Text
		for j := range s {
			if j == 0 {
				continue
			}
			l, ok1 := vocab[s[:j]]
			r, ok2 := vocab[s[j:]]
			if ok1 && ok2 {
				merges[pairKey(l, r)] = merge{rank: rankOf(pc.Score), id: int32(i)}
			}
		}
	}
	return merges
}
