package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// merge is the result of merging a pair of adjacent tokens: the merged id and
// its priority (lower rank merges first; equal ranks merge leftmost first).
type merge struct {
	rank int32
	id   int32
}

// bpe is a byte-pair-encoding model: a vocabulary and merge priorities.
type bpe struct {
	vocab        map[string]int32 // model vocabulary (no added tokens)
	merges       map[uint64]merge // pairKey(left, right) -> merge
	byteFallback bool             // unknown characters become <0xNN> tokens
	byteIDs      [256]int32       // id of <0xNN>, or -1
	unk          int32            // id of the unknown token, or -1
	fuseUnk      bool             // consecutive unknowns become one unk
	ignoreMerges bool             // a word found whole in vocab is one token

	// spaceSplit is "▁" when no piece has a "▁" after a non-"▁" character:
	// then no merge can cross the start of a "▁" run, and a word may be
	// encoded chunk by chunk ("▁▁word") with the same result, faster.
	spaceSplit string
}

// setSpaceSplit enables chunked encoding when the vocabulary allows it.
func (m *bpe) setSpaceSplit(space string) {
	m.spaceSplit = ""
	for p := range m.vocab {
		rest := strings.TrimLeft(p, space)
		if strings.Contains(rest, space) {
			return
		}
	}
	m.spaceSplit = space
}

// chunks calls f for each piece of w that starts a run of spaceSplit.
func (m *bpe) chunks(w string, f func(string)) {
	sp := m.spaceSplit
	start := 0
	for i := 1; i < len(w); {
		j := strings.Index(w[i:], sp)
		if j < 0 {
			break
		}
		j += i
		// a chunk boundary is a "▁" that follows a non-"▁"
		if !strings.HasSuffix(w[:j], sp) {
			f(w[start:j])
			start = j
		}
		i = j + len(sp)
	}
	f(w[start:])
}

func pairKey(l, r int32) uint64 { return uint64(uint32(l))<<32 | uint64(uint32(r)) }

type symbol struct {
	id         int32
	prev, next int32 // -1 at the ends
	dead       bool
}

type candidate struct {
	rank  int32
	left  int32 // index of the left symbol (its original position)
	right int32
	lid   int32 // ids at push time, to detect stale candidates
	rid   int32
}

func (c candidate) less(d candidate) bool {
	if c.rank != d.rank {
		return c.rank < d.rank
	}
	return c.left < d.left
}

// encode appends the ids of one pre-tokenized word.
func (m *bpe) encode(out []int, word string) []int {
	return m.encodeWith(out, word, smallWord)
}

// encodeWith merges words of up to small symbols with mergeSmall and longer
// ones with mergeAll (tests force each path).
func (m *bpe) encodeWith(out []int, word string, small int) []int {
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(out, int(id))
		}
	}
	syms := make([]symbol, 0, len(word))
	for i, w := 0, 0; i < len(word); i += w {
		_, w = utf8.DecodeRuneInString(word[i:])
		if id, ok := m.vocab[word[i:i+w]]; ok {
			syms = append(syms, symbol{id: id})
			continue
		}
		if m.byteFallback && m.hasBytes(word[i:i+w]) {
			for j := i; j < i+w; j++ {
				syms = append(syms, symbol{id: m.byteIDs[word[j]]})
			}
			continue
		}
		if m.unk < 0 {
			continue // no way to represent it: drop, as there is no unk
		}
		if m.fuseUnk && len(syms) > 0 && syms[len(syms)-1].id == m.unk {
			continue
		}
		syms = append(syms, symbol{id: m.unk})
	}
	n := len(syms)
	for i := range syms {
		syms[i].prev = int32(i - 1)
		syms[i].next = int32(i + 1)
	}
	if n > 0 {
		syms[n-1].next = -1
	}
	if n > 1 && len(m.merges) > 0 {
		if n <= small && n <= smallWord {
			m.mergeSmall(syms)
		} else {
			m.mergeAll(syms)
		}
	}
	for i := 0; i >= 0 && i < n; i = int(syms[i].next) {
		out = append(out, int(syms[i].id))
	}
	return out
}

func (m *bpe) hasBytes(s string) bool {
	for j := 0; j < len(s); j++ {
		if m.byteIDs[s[j]] < 0 {
			return false
		}
	}
	return true
}

// smallWord is the longest word (in initial symbols) merged by mergeSmall.
const smallWord = 64

// mergeSmall is mergeAll for short words: it keeps the merge of each
// adjacent pair in an array and scans it for the best, which beats a heap
// when there are few symbols. Same result: best rank first, leftmost first.
func (m *bpe) mergeSmall(syms []symbol) {
	var rk [smallWord]merge
	lookup := func(i int32) merge {
		r := syms[i].next
		if r < 0 {
			return merge{rank: -1}
		}
		mg, ok := m.merges[pairKey(syms[i].id, syms[r].id)]
		if !ok {
			return merge{rank: -1}
		}
		return mg
	}
	for i := range syms {
		rk[i] = lookup(int32(i))
	}
	for {
		best := int32(-1)
		for i := int32(0); i >= 0; i = syms[i].next {
			if rk[i].rank >= 0 && (best < 0 || rk[i].rank < rk[best].rank) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		l := &syms[best]
		r := l.next
		l.id = rk[best].id
		l.next = syms[r].next
		if l.next >= 0 {
			syms[l.next].prev = best
		}
		syms[r].dead = true
		rk[best] = lookup(best)
		if l.prev >= 0 {
			rk[l.prev] = lookup(l.prev)
		}
	}
}

// mergeAll applies merges, best rank first and leftmost among equals, until
// no adjacent pair can merge.
func (m *bpe) mergeAll(syms []symbol) {
	h := make([]candidate, 0, len(syms))
	push := func(l int32) {
		r := syms[l].next
		if r < 0 {
			return
		}
		mg, ok := m.merges[pairKey(syms[l].id, syms[r].id)]
		if !ok {
			return
		}
		h = heapPush(h, candidate{rank: mg.rank, left: l, right: r, lid: syms[l].id, rid: syms[r].id})
	}
	for i := 0; i < len(syms)-1; i++ {
		push(int32(i))
	}
	for len(h) > 0 {
		var c candidate
		c, h = heapPop(h)
		l, r := &syms[c.left], &syms[c.right]
		if l.dead || r.dead || l.next != c.right || l.id != c.lid || r.id != c.rid {
			continue
		}
		mg := m.merges[pairKey(l.id, r.id)]
		l.id = mg.id
		r.dead = true
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = c.left
		}
		if l.prev >= 0 {
			push(l.prev)
		}
		push(c.left)
	}
}

func heapPush(h []candidate, c candidate) []candidate {
	h = append(h, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapPop(h []candidate) (candidate, []candidate) {
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l, r, best := 2*i+1, 2*i+2, i
		if l < n && h[l].less(h[best]) {
			best = l
		}
		if r < n && h[r].less(h[best]) {
			best = r
		}
		if best == i {
			break
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
	return top, h
}

// byteLevelAlphabet maps each byte to the printable rune GPT-2's byte-level
// BPE uses for it, and byteLevelInverse maps back.
var byteLevelAlphabet, byteLevelInverse = func() ([256]rune, map[rune]byte) {
	var fwd [256]rune
	inv := make(map[rune]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			fwd[b] = rune(b)
		} else {
			fwd[b] = rune(256 + n)
			n++
		}
		inv[fwd[b]] = byte(b)
	}
	return fwd, inv
}()

// toByteLevel maps every byte of s to its byte-level rune.
func toByteLevel(s string) string {
	buf := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteLevelAlphabet[s[i]])
	}
	return string(buf)
}
