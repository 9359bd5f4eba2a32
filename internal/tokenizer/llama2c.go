package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// FromLlama2C reads a llama2.c tokenizer.bin (int32 max_token_length, then
// per token: float32 score, int32 length, bytes) holding vocabSize tokens and
// returns the equivalent SentencePiece BPE model with byte fallback: id 0
// <unk>, 1 <s> and 2 </s> (control), 3..258 <0x00>..<0xFF> (byte), the rest
// normal pieces with spaces escaped as "▁". Its encoding matches run.c's
// encode: BOS, the dummy-prefix space, merges by score, byte fallback.
func FromLlama2C(r io.Reader, vocabSize int) (*SentencePieceModel, error) {
	if vocabSize < 259 || vocabSize > maxVocab {
		return nil, fmt.Errorf("llama2.c vocabulary size %d: need 259..%d", vocabSize, maxVocab)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading llama2.c tokenizer header: %w", err)
	}
	maxLen := int32(binary.LittleEndian.Uint32(hdr[:]))
	if maxLen <= 0 || maxLen > maxPieceBytes {
		return nil, fmt.Errorf("llama2.c tokenizer max_token_length %d", maxLen)
	}
	m := &SentencePieceModel{ModelType: ModelBPE, ByteFallback: true, UnkID: 0, BOSID: 1, EOSID: 2, PadID: -1,
		NormalizerName: "identity", AddDummyPrefix: true, RemoveExtraWhitespaces: false}
	m.Pieces = make([]Piece, 0, vocabSize)
	var rec [8]byte
	for i := range vocabSize {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			return nil, fmt.Errorf("llama2.c token %d: %w", i, err)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(rec[:4]))
		n := int32(binary.LittleEndian.Uint32(rec[4:]))
		if n < 0 || n > maxLen {
			return nil, fmt.Errorf("llama2.c token %d: length %d exceeds max_token_length %d", i, n, maxLen)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("llama2.c token %d: %w", i, err)
		}
		pc := Piece{Text: string(b), Score: score, Type: PieceNormal}
		switch {
		case i == 0:
			pc = Piece{Text: "<unk>", Type: PieceUnknown}
		case i == 1:
			pc = Piece{Text: "<s>", Type: PieceControl}
		case i == 2:
			pc = Piece{Text: "</s>", Type: PieceControl}
		case i < 259:
			want := byteTokenName(byte(i - 3))
			if pc.Text != want {
				return nil, fmt.Errorf("llama2.c token %d is %q, want byte piece %s", i, pc.Text, want)
			}
			pc.Type = PieceByte
		default:
			pc.Text = strings.ReplaceAll(pc.Text, " ", "▁")
		}
		m.Pieces = append(m.Pieces, pc)
	}
	if len(m.Pieces) != vocabSize {
		return nil, errors.New("llama2.c tokenizer: short vocabulary")
	}
	return m, nil
}
