package trainingdata

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"strata/internal/guard"
)

// Scanner names the scanner and report version.
const Scanner = "strata-scan/1"

// Verdicts.
const (
	Clean   = "CLEAN"
	Blocked = "BLOCKED"
)

// Report is the pre-flight sensitive-data report of one file (the
// "strata-scan/1" JSON of shared/reference/customization.md §2). It holds
// types, counts and locations, never a value: no digits, no last four, no
// hash of what was found.
type Report struct {
	Scanner     string               `json:"scanner"` // "strata-scan/1"
	File        string               `json:"file"`    // as given by the caller (e.g. s3://bucket/train.jsonl)
	SHA256      string               `json:"sha256"`  // hex, of the file bytes read
	Records     int                  `json:"records"` // records read without error
	Bytes       int64                `json:"bytes"`   // bytes read
	Verdict     string               `json:"verdict"` // "CLEAN" or "BLOCKED"
	ByType      map[string]TypeCount `json:"byType,omitempty"`
	Occurrences []Occurrence         `json:"occurrences,omitempty"` // the first N per type, in file order
	Truncated   bool                 `json:"truncated,omitempty"`   // some type had more than N

	block map[string]bool // the types that block; nil means card types
}

// TypeCount counts the occurrences of one type and the records holding
// them.
type TypeCount struct {
	Count   int `json:"count"`
	Records int `json:"records"`
}

// Occurrence locates one finding. Column and Length count runes of the
// decoded string at JSONPath (for a line that is not valid JSON: of the
// raw line, with JSONPath "$"). A value split over several strings of a
// record (say, half a card number in each of two turns) is reported at the
// string where it starts, with Length counting only its part there.
type Occurrence struct {
	Type        string `json:"type"`
	Line        int    `json:"line"`
	RecordIndex int    `json:"recordIndex"` // 0-based index among the file's records
	JSONPath    string `json:"jsonPath"`    // e.g. $.completion, $.messages[1].content[0].text, $.system[0].text, $.input
	Column      int    `json:"column"`      // 0-based rune offset within the decoded string
	Length      int    `json:"length"`      // runes
	Detector    string `json:"detector"`    // "luhn+brand", "track", "encoded", "cvv", "expiry", "pin" or "pii"
	Brand       string `json:"brand,omitempty"`
}

// ScanOptions chooses what Check looks for.
type ScanOptions struct {
	// Block lists the entity types (guard.Entity names) whose presence
	// makes the verdict BLOCKED; nil means every card-data type
	// (guard.Entity.IsCard).
	Block []string
	// Report lists further types to count without blocking; nil means every
	// other type guard knows (guard.AllEntities), an empty non-nil slice
	// none.
	Report []string
	// MaxOccurrencesPerType bounds Report.Occurrences per type; default 15
	// (as Macie).
	MaxOccurrencesPerType int
}

// scan holds the state of one Check.
type scan struct {
	want    map[guard.Entity]bool
	block   map[string]bool
	pii     bool // want holds a non-card type: use DetectPII
	encoded bool // want holds card numbers: also run DetectEncoded
	maxOcc  int
	rep     *Report
	lastRec map[string]int // per type, the last record index counted
	buf     strings.Builder
	pieces  []piece
}

// piece is one scanned value's place in the joined text of a line.
type piece struct {
	path       string
	start, end int
}

func newScan(so ScanOptions, rep *Report) (*scan, error) {
	sc := &scan{want: map[guard.Entity]bool{}, block: map[string]bool{}, maxOcc: so.MaxOccurrencesPerType,
		rep: rep, lastRec: map[string]int{}}
	if sc.maxOcc <= 0 {
		sc.maxOcc = 15
	}
	block := so.Block
	if block == nil {
		for _, e := range guard.AllEntities {
			if e.IsCard() {
				block = append(block, string(e))
			}
		}
	}
	for _, t := range block {
		if !guard.Entity(t).Known() {
			return nil, fmt.Errorf("trainingdata: unknown entity type %q in ScanOptions.Block", t)
		}
		sc.block[t] = true
		sc.want[guard.Entity(t)] = true
	}
	report := so.Report
	if report == nil {
		for _, e := range guard.AllEntities {
			report = append(report, string(e))
		}
	}
	for _, t := range report {
		if !guard.Entity(t).Known() {
			return nil, fmt.Errorf("trainingdata: unknown entity type %q in ScanOptions.Report", t)
		}
		sc.want[guard.Entity(t)] = true
	}
	for e := range sc.want {
		if !e.IsCard() {
			sc.pii = true
		}
	}
	sc.encoded = sc.want[guard.CardNumber]
	rep.block = sc.block
	return sc, nil
}

// Check reads r once: it hashes and counts the bytes, parses them with
// Read's rules, and scans every decoded JSON string value (every string the
// line holds, system text included, plus numbers and unknown keys) for card
// data and PII with internal/guard. The strings of one record are also
// scanned joined by line breaks, so a card number split over two turns is
// found. A line that is not valid JSON is scanned raw. It returns the
// records and the report.
//
// A format error is returned as error, together with nil records and a
// report of what was read so far (its verdict as found so far; Bytes and
// SHA256 then cover the bytes read, which may run past the bad line). Bad
// options or an unsupported customization type return a nil report.
func Check(r io.Reader, file, customizationType string, lim Limits, so ScanOptions) ([]Record, *Report, error) {
	rep := &Report{Scanner: Scanner, File: file, Verdict: Clean}
	sc, err := newScan(so, rep)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.New()
	p, err := newParser(r, customizationType, lim, h)
	if err != nil {
		return nil, nil, err
	}
	p.onLine = sc.line
	err = p.run()
	rep.Records = len(p.recs)
	rep.Bytes = p.cr.n
	rep.SHA256 = hex.EncodeToString(h.Sum(nil))
	if err != nil {
		return nil, rep, err
	}
	return p.recs, rep, nil
}

// line scans one line: its values from p.strs, or raw when the line is not
// valid JSON.
func (sc *scan) line(p *parser, rec int, raw []byte) {
	if raw != nil {
		sc.scanPieces(p.line, rec, string(raw), []piece{{path: "$", end: len(raw)}})
		return
	}
	sc.buf.Reset()
	sc.pieces = sc.pieces[:0]
	for _, v := range p.strs {
		if v.key {
			sc.scanPieces(p.line, rec, v.s, []piece{{path: v.path, end: len(v.s)}})
			continue
		}
		if sc.buf.Len() > 0 {
			sc.buf.WriteByte('\n')
		}
		start := sc.buf.Len()
		sc.buf.WriteString(v.s)
		sc.pieces = append(sc.pieces, piece{path: v.path, start: start, end: sc.buf.Len()})
	}
	if len(sc.pieces) > 0 {
		sc.scanPieces(p.line, rec, sc.buf.String(), sc.pieces)
	}
}

// scanPieces scans text, made of pieces in order, and records each finding
// at the piece where it starts.
func (sc *scan) scanPieces(line, rec int, text string, pieces []piece) {
	fs := sc.detect(text)
	// Findings are sorted by Start: count runes incrementally.
	pi, pos, runes := 0, 0, 0 // piece, byte offset in text, runes since the piece's start
	for _, f := range fs {
		for pi+1 < len(pieces) && f.Start >= pieces[pi+1].start {
			pi++
			pos, runes = pieces[pi].start, 0
		}
		pc := pieces[pi]
		if pos < pc.start {
			pos, runes = pc.start, 0
		}
		start := min(max(f.Start, pc.start), pc.end)
		if start > pos {
			runes += utf8.RuneCountInString(text[pos:start])
			pos = start
		}
		end := min(max(f.End, start), pc.end)
		sc.add(Occurrence{
			Type: string(f.Type), Line: line, RecordIndex: rec, JSONPath: pc.path,
			Column: runes, Length: utf8.RuneCountInString(text[start:end]),
			Detector: detector(f), Brand: f.Brand,
		})
	}
}

// detect returns the wanted findings in text, sorted and without overlaps.
func (sc *scan) detect(text string) []guard.Finding {
	var fs []guard.Finding
	if sc.pii {
		fs = guard.DetectPII(text, nil)
	} else {
		fs = guard.Detect(text)
	}
	if sc.encoded {
		if enc := guard.DetectEncoded(text); len(enc) > 0 {
			fs = merge(fs, enc)
		}
	}
	return slices.DeleteFunc(fs, func(f guard.Finding) bool { return !sc.want[f.Type] })
}

// priority ranks overlapping findings as guard does: card numbers, then
// other card data, then the rest.
func priority(t guard.Entity) int {
	switch {
	case t == guard.CardNumber:
		return 3
	case t.IsCard():
		return 2
	}
	return 1
}

// merge adds the encoded card numbers enc to fs, dropping whichever of two
// overlapping findings ranks lower (on a tie, the shorter).
func merge(fs, enc []guard.Finding) []guard.Finding {
	all := append(fs, enc...)
	slices.SortStableFunc(all, func(a, b guard.Finding) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
	})
	out := all[:0]
	for _, f := range all {
		// The kept findings overlapping f are a tail of out.
		k := len(out)
		for k > 0 && out[k-1].End > f.Start {
			k--
		}
		if !slices.ContainsFunc(out[k:], func(o guard.Finding) bool { return outranks(o, f) }) {
			out = append(out[:k], f)
		}
	}
	return out
}

// outranks reports whether a is kept over b when they overlap.
func outranks(a, b guard.Finding) bool {
	pa, pb := priority(a.Type), priority(b.Type)
	return pa > pb || pa == pb && a.End-a.Start >= b.End-b.Start
}

// detector names what found f.
func detector(f guard.Finding) string {
	switch f.Type {
	case guard.CardNumber:
		switch {
		case f.Track:
			return "track"
		case f.Encoded:
			return "encoded"
		}
		return "luhn+brand"
	case guard.CardCVV:
		return "cvv"
	case guard.CardExpiry:
		return "expiry"
	case guard.PIN:
		return "pin"
	}
	return "pii"
}

// add counts o and keeps it if its type has room.
func (sc *scan) add(o Occurrence) {
	r := sc.rep
	if r.ByType == nil {
		r.ByType = map[string]TypeCount{}
	}
	tc := r.ByType[o.Type]
	tc.Count++
	if last, ok := sc.lastRec[o.Type]; !ok || last != o.RecordIndex {
		tc.Records++
		sc.lastRec[o.Type] = o.RecordIndex
	}
	r.ByType[o.Type] = tc
	if tc.Count <= sc.maxOcc {
		r.Occurrences = append(r.Occurrences, o)
	} else {
		r.Truncated = true
	}
	if sc.block[o.Type] {
		r.Verdict = Blocked
	}
}

// Summary returns a one-line message for a job's failureMessage when the
// verdict is BLOCKED, e.g. "Training data s3://b/train.jsonl contains 3
// CREDIT_DEBIT_CARD_NUMBER occurrences in 2 records (first at line 17)",
// listing every blocking type found. It holds no values and no digits from
// the data. It returns "" when the verdict is not BLOCKED.
func (r *Report) Summary() string {
	if r == nil || r.Verdict != Blocked {
		return ""
	}
	var types []string
	for t := range r.ByType {
		if r.blocks(t) {
			types = append(types, t)
		}
	}
	if len(types) == 0 { // a report read back from JSON with other Block options
		for t := range r.ByType {
			types = append(types, t)
		}
	}
	slices.Sort(types)
	parts := make([]string, 0, len(types))
	for _, t := range types {
		tc := r.ByType[t]
		s := fmt.Sprintf("%d %s %s in %d %s", tc.Count, t, plural(tc.Count, "occurrence"), tc.Records, plural(tc.Records, "record"))
		for _, o := range r.Occurrences {
			if o.Type == t {
				s += fmt.Sprintf(" (first at line %d)", o.Line)
				break
			}
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("Training data %s contains %s", r.File, strings.Join(parts, " and "))
}

func (r *Report) blocks(t string) bool {
	if r.block == nil {
		return guard.Entity(t).IsCard()
	}
	return r.block[t]
}

func plural(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}
