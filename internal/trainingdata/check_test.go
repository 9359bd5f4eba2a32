package trainingdata

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"strata/internal/guard"
)

// sharedDir returns the shared test-data folder beside the repository:
// the first ancestor of the working directory holding shared/DESIGN.md.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "shared", "DESIGN.md")); err == nil {
			return filepath.Join(dir, "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no shared/ test data beside the repository")
		}
		dir = parent
	}
}

// bitextJSONL converts the bitext customer-support CSV to FINE_TUNING
// JSONL, {"prompt": instruction, "completion": response}, passing each
// pair through edit first (when non-nil) with its 0-based record index.
func bitextJSONL(t testing.TB, edit func(i int, prompt, completion string) (string, string)) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedDir(t), "data", "bitext_customer_support", "bitext_customer_support_4514.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	header, err := cr.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	var out bytes.Buffer
	for i := 0; ; i++ {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p, c := row[col["instruction"]], row[col["response"]]
		if edit != nil {
			p, c = edit(i, p, c)
		}
		b, err := json.Marshal(struct {
			Prompt     string `json:"prompt"`
			Completion string `json:"completion"`
		}{p, c})
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

const bitextRecords = 4514

// TestCheckBitextClean checks the false-positive fixture: 216 Luhn-valid
// order numbers without a card brand prefix must not block.
func TestCheckBitextClean(t *testing.T) {
	data := bitextJSONL(t, nil)
	if n := len(regexp.MustCompile(`\d{13,19}`).FindAll(data, -1)); n < 200 {
		t.Fatalf("fixture holds %d runs of 13-19 digits, want the ~216 order numbers", n)
	}
	recs, rep, err := Check(bytes.NewReader(data), "s3://b/train.jsonl", FineTuning, Limits{}, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if rep.Verdict != Clean || rep.Records != bitextRecords || len(recs) != bitextRecords ||
		rep.Bytes != int64(len(data)) || rep.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("report %+v, want CLEAN over %d records and %d bytes", rep, bitextRecords, len(data))
	}
	for typ, tc := range rep.ByType {
		if guard.Entity(typ).IsCard() {
			t.Errorf("card data type %s counted %d times", typ, tc.Count)
		}
	}
	if rep.Summary() != "" {
		t.Errorf("Summary of a clean report = %q", rep.Summary())
	}
	t.Logf("PII counted (not blocking): %v", rep.ByType)
}

var longDigits = regexp.MustCompile(`\d{13,19}`)

// TestCheckBitextPlanted plants a test PAN in the completion of line 17.
func TestCheckBitextPlanted(t *testing.T) {
	const lead = "Your card on file: "
	data := bitextJSONL(t, func(i int, p, c string) (string, string) {
		if i == 16 {
			c = lead + "4111 1111 1111 1111. " + c
		}
		return p, c
	})
	file := "s3://b/train.jsonl"
	recs, rep, err := Check(bytes.NewReader(data), file, FineTuning, Limits{}, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != Blocked || len(recs) != bitextRecords {
		t.Fatalf("verdict %s over %d records, want BLOCKED", rep.Verdict, len(recs))
	}
	if got := rep.ByType[string(guard.CardNumber)]; got != (TypeCount{Count: 1, Records: 1}) {
		t.Fatalf("card numbers %+v, want 1 in 1 record", got)
	}
	var cards []Occurrence
	for _, o := range rep.Occurrences {
		if guard.Entity(o.Type).IsCard() {
			cards = append(cards, o)
		}
	}
	want := []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 17, RecordIndex: 16, JSONPath: "$.completion",
		Column: len(lead), Length: 19, Detector: "luhn+brand", Brand: "VISA"}}
	if !reflect.DeepEqual(cards, want) {
		t.Fatalf("card occurrences\n got: %+v\nwant: %+v", cards, want)
	}
	sumWant := "Training data s3://b/train.jsonl contains 1 CREDIT_DEBIT_CARD_NUMBER occurrence in 1 record (first at line 17)"
	if got := rep.Summary(); got != sumWant {
		t.Errorf("Summary\n got: %q\nwant: %q", got, sumWant)
	}
	assertNoValues(t, rep, nil)

	// A format error after the PAN: the error comes with the report so far.
	bad := append(bytes.Clone(data), []byte(`{"prompt": "4111 1111 1111 1111", "completion": }`+"\n")...)
	recs, rep, err = Check(bytes.NewReader(bad), file, FineTuning, Limits{}, ScanOptions{})
	fe, ok := errors.AsType[*FormatError](err)
	if !ok || fe.Line != bitextRecords+1 || recs != nil {
		t.Fatalf("err %v, %d records; want a FormatError at line %d and no records", err, len(recs), bitextRecords+1)
	}
	if rep == nil || rep.Verdict != Blocked || rep.Records != bitextRecords || rep.ByType[string(guard.CardNumber)].Count != 2 {
		t.Fatalf("report with the error: %+v", rep)
	}
	assertNoValues(t, rep, err)
}

// assertNoValues fails if the report, its Summary or err show a run of
// four or more digits (with the hash and byte count, which are not data,
// left out) or any part of the test PAN.
func assertNoValues(t *testing.T, rep *Report, err error) {
	t.Helper()
	r := *rep
	r.SHA256, r.Bytes = "", 0
	b, merr := json.Marshal(r)
	if merr != nil {
		t.Fatal(merr)
	}
	texts := []string{string(b), rep.Summary()}
	if err != nil {
		texts = append(texts, err.Error())
	}
	for _, s := range texts {
		if longDigits.MatchString(s) || strings.Contains(s, "1111") || regexp.MustCompile(`\d{5,}`).MatchString(s) {
			t.Errorf("digits from the data in %s", s)
		}
	}
}

// msgs builds a conversation line from alternating user/assistant texts.
func msgs(system string, texts ...string) string {
	type block struct {
		Text string `json:"text"`
	}
	type msg struct {
		Role    string  `json:"role"`
		Content []block `json:"content"`
	}
	v := struct {
		Schema   string  `json:"schemaVersion"`
		System   []block `json:"system,omitempty"`
		Messages []msg   `json:"messages"`
	}{Schema: ConversationSchema}
	if system != "" {
		v.System = []block{{system}}
	}
	for i, t := range texts {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		v.Messages = append(v.Messages, msg{role, []block{{t}}})
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func pc(prompt, completion string) string {
	b, _ := json.Marshal(map[string]string{"prompt": prompt, "completion": completion})
	return string(b)
}

var checkCases = []struct {
	name    string
	typ     string
	so      ScanOptions
	in      string
	verdict string
	want    []Occurrence // Line, RecordIndex, Type, JSONPath, Column, Length, Detector (Brand not compared)
	errLine int          // a FormatError is expected at this line
}{
	{name: "pan-in-conversation-message", typ: FineTuning, in: msgs("", "Hi", "Your card is 5555-5555-5555-4444, thanks"), verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.messages[1].content[0].text", Column: 13, Length: 19, Detector: "luhn+brand"}}},
	{name: "pan-in-system-text", typ: FineTuning, in: pc("a", "b") + "\n" + msgs("Test card 378282246310005 always works", "Hi", "Hello"), verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 2, RecordIndex: 1, JSONPath: "$.system[0].text", Column: 10, Length: 15, Detector: "luhn+brand"}}},
	{name: "pan-json-escaped", typ: FineTuning, verdict: Blocked,
		in:   `{"prompt": "é card", "completion": "n=\u0034\u0032\u0034\u0032\u0034\u0032\u0034\u0032\u0034\u0032\u0034\u0032\u0034\u0032\u0034\u0032"}`,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.completion", Column: 2, Length: 16, Detector: "luhn+brand"}}},
	{name: "pan-after-multibyte-runes", typ: FineTuning, in: pc("x", "né€😀 4111111111111111"), verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.completion", Column: 5, Length: 16, Detector: "luhn+brand"}}},
	{name: "pan-with-spaces-in-prompt", typ: FineTuning, in: pc("card 4111 1111 1111 1111 ok", "fine"), verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.prompt", Column: 5, Length: 19, Detector: "luhn+brand"}}},
	{name: "pan-split-across-turns", typ: FineTuning, in: msgs("", "my card is 4111 1111", "1111 1111 noted"), verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.messages[0].content[0].text", Column: 11, Length: 9, Detector: "luhn+brand"}}},
	{name: "track-data", typ: FineTuning, in: pc("swipe", "%B4111111111111111^DOE/JOHN^2712101000000000000?"), verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.completion", Column: 2, Length: 46, Detector: "track"}}},
	{name: "base64-pan", typ: FineTuning, in: pc("x", "token NDExMTExMTExMTExMTExMQ== end"), verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.completion", Column: 6, Length: 24, Detector: "encoded"}}},
	{name: "cvv", typ: FineTuning, in: pc("x", "the cvv is 123"), verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_CVV", Line: 1, JSONPath: "$.completion", Column: 11, Length: 3, Detector: "cvv"}}},
	{name: "cpt-input", typ: ContinuedPreTraining, in: `{"input": "pay with 3530111333300000 pls"}`, verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.input", Column: 9, Length: 16, Detector: "luhn+brand"}}},
	{name: "email-counted-not-blocking", typ: FineTuning, in: pc("x", "write to jane@example.com"), verdict: Clean,
		want: []Occurrence{{Type: "EMAIL", Line: 1, JSONPath: "$.completion", Column: 9, Length: 16, Detector: "pii"}}},
	{name: "email-blocking-when-asked", typ: FineTuning, so: ScanOptions{Block: []string{"EMAIL"}, Report: []string{}},
		in: pc("x", "write to jane@example.com"), verdict: Blocked,
		want: []Occurrence{{Type: "EMAIL", Line: 1, JSONPath: "$.completion", Column: 9, Length: 16, Detector: "pii"}}},
	{name: "email-not-reported", typ: FineTuning, so: ScanOptions{Report: []string{}}, in: pc("x", "write to jane@example.com"), verdict: Clean},
	{name: "test-pans-not-cards", typ: FineTuning, verdict: Clean,
		in: pc("Order #1000000000000008 shipped", "IMEI 356938035643809, 4111 1111 1111 1112, card 411111******1111")},
	{name: "pan-in-unknown-field", typ: FineTuning, in: `{"prompt": "a", "completion": "b", "note": "4111111111111111"}`, verdict: Blocked, errLine: 1,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.*", Column: 0, Length: 16, Detector: "luhn+brand"}}},
	{name: "pan-as-unknown-key", typ: FineTuning, in: `{"4111111111111111": "a", "completion": "b"}`, verdict: Blocked, errLine: 1,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.*", Column: 0, Length: 16, Detector: "luhn+brand"}}},
	{name: "pan-as-number", typ: FineTuning, in: `{"prompt": "a", "completion": 4111111111111111}`, verdict: Blocked, errLine: 1,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.completion", Column: 0, Length: 16, Detector: "luhn+brand"}}},
	{name: "pan-in-bad-json-line", typ: FineTuning, in: pc("a", "b") + "\n" + `{"prompt": "4111111111111111", "completion": }`, verdict: Blocked, errLine: 2,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 2, RecordIndex: 1, JSONPath: "$", Column: 12, Length: 16, Detector: "luhn+brand"}}},
	{name: "pan-in-duplicate-field", typ: FineTuning, in: `{"prompt": "4111111111111111", "prompt": "a", "completion": "b"}`, verdict: Blocked, errLine: 1,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 1, JSONPath: "$.prompt", Column: 0, Length: 16, Detector: "luhn+brand"}}},
	{name: "blank-lines-shift-line-not-index", typ: FineTuning, in: "\n" + pc("a", "b") + "\n\n" + pc("a", "4111111111111111"), verdict: Blocked,
		want: []Occurrence{{Type: "CREDIT_DEBIT_CARD_NUMBER", Line: 4, RecordIndex: 1, JSONPath: "$.completion", Column: 0, Length: 16, Detector: "luhn+brand"}}},
}

func TestCheck(t *testing.T) {
	for _, tc := range checkCases {
		t.Run(tc.name, func(t *testing.T) {
			recs, rep, err := Check(strings.NewReader(tc.in), "s3://b/t.jsonl", tc.typ, Limits{}, tc.so)
			if tc.errLine != 0 {
				fe, ok := errors.AsType[*FormatError](err)
				if !ok || fe.Line != tc.errLine {
					t.Fatalf("err = %v, want a FormatError at line %d", err, tc.errLine)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if rep.Records != len(recs) {
				t.Fatalf("report counts %d records, got %d", rep.Records, len(recs))
			}
			if rep.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s", rep.Verdict, tc.verdict)
			}
			got := make([]Occurrence, len(rep.Occurrences))
			for i, o := range rep.Occurrences {
				o.Brand = ""
				got[i] = o
			}
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("occurrences\n got: %+v\nwant: %+v", got, tc.want)
			}
			for _, o := range tc.want {
				if rep.ByType[o.Type].Count == 0 {
					t.Errorf("ByType lacks %s: %+v", o.Type, rep.ByType)
				}
			}
			if (tc.verdict == Blocked) != (rep.Summary() != "") {
				t.Errorf("Summary %q with verdict %s", rep.Summary(), rep.Verdict)
			}
			assertNoValues(t, rep, err)
		})
	}
}

// TestCheckTruncation checks the per-type occurrence cap, the counts and
// the Summary of several types.
func TestCheckTruncation(t *testing.T) {
	var in strings.Builder
	for i := range 20 {
		completion := "ok"
		if i%2 == 0 {
			completion = "4111 1111 1111 1111 and 5555555555554444"
		}
		in.WriteString(pc("the cvv is 123", completion) + "\n")
	}
	_, rep, err := Check(strings.NewReader(in.String()), "s3://b/t.jsonl", FineTuning, Limits{}, ScanOptions{MaxOccurrencesPerType: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Truncated || len(rep.Occurrences) != 6 {
		t.Fatalf("truncated %v with %d occurrences, want true and 3 per type", rep.Truncated, len(rep.Occurrences))
	}
	if got := rep.ByType["CREDIT_DEBIT_CARD_NUMBER"]; got != (TypeCount{Count: 20, Records: 10}) {
		t.Errorf("card numbers %+v", got)
	}
	if got := rep.ByType["CREDIT_DEBIT_CARD_CVV"]; got != (TypeCount{Count: 20, Records: 20}) {
		t.Errorf("CVVs %+v", got)
	}
	want := "Training data s3://b/t.jsonl contains 20 CREDIT_DEBIT_CARD_CVV occurrences in 20 records (first at line 1) and " +
		"20 CREDIT_DEBIT_CARD_NUMBER occurrences in 10 records (first at line 1)"
	if got := rep.Summary(); got != want {
		t.Errorf("Summary\n got: %q\nwant: %q", got, want)
	}
	assertNoValues(t, rep, nil)
}

// TestCheckOptions checks option errors and that Check agrees with Read.
func TestCheckOptions(t *testing.T) {
	for _, so := range []ScanOptions{{Block: []string{"CREDIT_CARD_NUMBER"}}, {Report: []string{"NOPE"}}} {
		if _, rep, err := Check(strings.NewReader(pc("a", "b")), "f", FineTuning, Limits{}, so); err == nil || rep != nil {
			t.Errorf("options %+v: err %v, report %v; want an error and no report", so, err, rep)
		}
	}
	if _, rep, err := Check(strings.NewReader(pc("a", "b")), "f", "DISTILLATION", Limits{}, ScanOptions{}); err == nil || rep != nil {
		t.Errorf("DISTILLATION: err %v, report %v", err, rep)
	}
	for _, tc := range readCases {
		want, werr := Read(strings.NewReader(tc.in), tc.typ, tc.lim)
		got, _, gerr := Check(strings.NewReader(tc.in), "f", tc.typ, tc.lim, ScanOptions{})
		if !reflect.DeepEqual(got, want) || (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Errorf("%s: Check gave %v, %v; Read %v, %v", tc.name, got, gerr, want, werr)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	data := bitextJSONL(b, nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, rep, err := Check(bytes.NewReader(data), "s3://b/train.jsonl", FineTuning, Limits{}, ScanOptions{}); err != nil || rep.Verdict != Clean {
			b.Fatal(err, rep.Verdict)
		}
	}
}
