package llm

import (
	"strings"

	"strata/internal/engine"
)

// stopper withholds tokens whose text may begin a stop sequence, and cuts
// the output where one matches; the match itself is never emitted.
type stopper struct {
	stops []string
	held  []engine.Token
}

// push adds a token and returns the tokens that may now be emitted, and
// whether a stop sequence matched (then nothing more may be emitted).
func (s *stopper) push(t engine.Token) (out []engine.Token, stopped bool) {
	if len(s.stops) == 0 {
		return []engine.Token{t}, false
	}
	s.held = append(s.held, t)
	var sb strings.Builder
	for _, h := range s.held {
		sb.WriteString(h.Text)
	}
	pending := sb.String()
	cut := -1
	for _, st := range s.stops {
		if i := strings.Index(pending, st); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		end := 0
		for _, h := range s.held {
			if end >= cut {
				break
			}
			if end+len(h.Text) > cut {
				h.Text = h.Text[:cut-end]
			}
			end += len(h.Text)
			out = append(out, h)
		}
		s.held = nil
		return out, true
	}
	// Keep the longest suffix that could still grow into a stop sequence.
	keep := 0
	for _, st := range s.stops {
		for k := min(len(st)-1, len(pending)); k > keep; k-- {
			if strings.HasSuffix(pending, st[:k]) {
				keep = k
				break
			}
		}
	}
	boundary := len(pending) - keep
	end, n := 0, 0
	for _, h := range s.held {
		if end+len(h.Text) > boundary {
			break
		}
		end += len(h.Text)
		n++
	}
	out = append(out, s.held[:n]...)
	s.held = append(s.held[:0], s.held[n:]...)
	return out, false
}

// flush returns the tokens still held when generation ends another way,
// with tail (text the decoder held back) appended to the last of them.
func (s *stopper) flush(tail string) []engine.Token {
	out := s.held
	s.held = nil
	if tail != "" && len(out) > 0 {
		out[len(out)-1].Text += tail
	}
	return out
}
