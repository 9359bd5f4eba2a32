package trainingdata

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"strata/internal/guard"
)

// plantedFT and plantedCPT start every fuzz input: a valid record holding
// a test PAN, so every report must block, and none may show its digits.
const (
	plantedFT  = `{"prompt": "card 4111 1111 1111 1111", "completion": "noted"}` + "\n"
	plantedCPT = `{"input": "card 4111 1111 1111 1111"}` + "\n"
)

var (
	fuzzPath     = regexp.MustCompile(`^\$((\.(prompt|completion|input|schemaVersion|system|messages|role|content|text|\*))|\[[0-9]+\])*$`)
	fuzzLetters  = regexp.MustCompile(`^[A-Z_ ]*$`)
	fuzzDigits   = regexp.MustCompile(`[0-9]{9,}`)
	fuzzDetector = map[string]bool{"luhn+brand": true, "track": true, "encoded": true, "cvv": true, "expiry": true, "pin": true, "pii": true}
)

// FuzzCheck feeds arbitrary bytes, after a record holding a test PAN, to
// Check and Read of both customization types, and checks that they agree
// and that the report is consistent and shows no values.
func FuzzCheck(f *testing.F) {
	for _, tc := range readCases {
		f.Add([]byte(tc.in), tc.typ == ContinuedPreTraining)
	}
	for _, tc := range checkCases {
		f.Add([]byte(tc.in), tc.typ == ContinuedPreTraining)
	}
	f.Add([]byte("\xef\xbb\xbf\r\n\r\n"), false)
	lim := Limits{MaxBytes: 1 << 16, MaxRecords: 50, MaxRecordChars: 400}
	f.Fuzz(func(t *testing.T, data []byte, cpt bool) {
		typ, planted := FineTuning, plantedFT
		if cpt {
			typ, planted = ContinuedPreTraining, plantedCPT
		}
		in := append([]byte(planted), data...)
		recs, rep, err := Check(bytes.NewReader(in), "f", typ, lim, ScanOptions{})
		if rep == nil {
			t.Fatalf("no report (err %v)", err)
		}
		rrecs, rerr := Read(bytes.NewReader(in), typ, lim)
		if !reflect.DeepEqual(recs, rrecs) || (err == nil) != (rerr == nil) || err != nil && err.Error() != rerr.Error() {
			t.Fatalf("Check and Read disagree: %v / %v", err, rerr)
		}
		if err != nil {
			if _, ok := errors.AsType[*FormatError](err); !ok {
				t.Fatalf("error %v is not a FormatError", err)
			}
			if recs != nil {
				t.Fatalf("%d records with an error", len(recs))
			}
		} else {
			sum := sha256.Sum256(in)
			if rep.Records != len(recs) || rep.Bytes != int64(len(in)) || rep.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("report counts %d records, %d bytes; got %d records of %d bytes", rep.Records, rep.Bytes, len(recs), len(in))
			}
			for i, r := range recs {
				if i > 0 && r.Line <= recs[i-1].Line || len(r.Turns) == 0 {
					t.Fatalf("record %d: %+v", i, r)
				}
			}
		}
		if rep.Verdict != Blocked || rep.ByType[string(guard.CardNumber)].Count < 1 {
			t.Fatalf("planted PAN not found: %+v", rep)
		}
		if o := rep.Occurrences[0]; o.Line != 1 || o.RecordIndex != 0 || o.Column != 5 || o.Length != 19 {
			t.Fatalf("planted PAN at %+v", o)
		}
		perType := map[string]int{}
		for _, o := range rep.Occurrences {
			perType[o.Type]++
			if !guard.Entity(o.Type).Known() || !fuzzPath.MatchString(o.JSONPath) || !fuzzDetector[o.Detector] ||
				!fuzzLetters.MatchString(o.Brand) || o.Line < 1 || o.RecordIndex < 0 || o.Column < 0 || o.Length < 0 {
				t.Fatalf("bad occurrence %+v", o)
			}
		}
		trunc := false
		for typ, tc := range rep.ByType {
			if tc.Records < 1 || tc.Records > tc.Count || perType[typ] != min(tc.Count, 15) {
				t.Fatalf("%s counted %+v with %d occurrences", typ, tc, perType[typ])
			}
			trunc = trunc || tc.Count > 15
		}
		if trunc != rep.Truncated {
			t.Fatalf("truncated %v", rep.Truncated)
		}
		r := *rep
		r.SHA256, r.Bytes = "", 0
		b, jerr := json.Marshal(r)
		if jerr != nil {
			t.Fatal(jerr)
		}
		for _, s := range []string{string(b), rep.Summary(), errString(err)} {
			if fuzzDigits.MatchString(s) || strings.Contains(s, "4111") {
				t.Fatalf("digits in %s", s)
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
