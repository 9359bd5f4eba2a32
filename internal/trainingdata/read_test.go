package trainingdata

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

const conv = `{"schemaVersion": "bedrock-conversation-2024", `

// readCases are the table of Read; fuzzing seeds from them too.
var readCases = []struct {
	name    string
	typ     string
	lim     Limits
	in      string
	want    []Record // when errLine == 0 and errSub == ""
	errLine int      // FormatError.Line, when an error is expected
	errSub  string   // substring of the error message
}{
	{name: "prompt-completion", typ: FineTuning, in: `{"prompt": "Hi", "completion": "Hello there"}` + "\n",
		want: []Record{{Line: 1, Turns: []Turn{{"user", "Hi"}, {"assistant", "Hello there"}}}}},
	{name: "fields-any-order", typ: FineTuning, in: `{"completion": "b", "prompt": "a"}`,
		want: []Record{{Line: 1, Turns: []Turn{{"user", "a"}, {"assistant", "b"}}}}},
	{name: "empty-prompt-allowed", typ: FineTuning, in: `{"prompt": "", "completion": "b"}`,
		want: []Record{{Line: 1, Turns: []Turn{{"user", ""}, {"assistant", "b"}}}}},
	{name: "unicode-escapes-decoded", typ: FineTuning, in: `{"prompt": "\u00e9\ud83d\ude00\n", "completion": "\"q\""}`,
		want: []Record{{Line: 1, Turns: []Turn{{"user", "é😀\n"}, {"assistant", `"q"`}}}}},
	{name: "blank-lines-skipped", typ: FineTuning, in: "\n  \n{\"prompt\": \"a\", \"completion\": \"b\"}\n\t\n{\"prompt\": \"c\", \"completion\": \"d\"}\n\n",
		want: []Record{{Line: 3, Turns: []Turn{{"user", "a"}, {"assistant", "b"}}}, {Line: 5, Turns: []Turn{{"user", "c"}, {"assistant", "d"}}}}},
	{name: "crlf", typ: FineTuning, in: "{\"prompt\": \"a\", \"completion\": \"b\"}\r\n{\"prompt\": \"c\", \"completion\": \"d\"}\r\n",
		want: []Record{{Line: 1, Turns: []Turn{{"user", "a"}, {"assistant", "b"}}}, {Line: 2, Turns: []Turn{{"user", "c"}, {"assistant", "d"}}}}},
	{name: "bom", typ: FineTuning, in: "\uFEFF{\"prompt\": \"a\", \"completion\": \"b\"}",
		want: []Record{{Line: 1, Turns: []Turn{{"user", "a"}, {"assistant", "b"}}}}},
	{name: "bom-not-at-start", typ: FineTuning, in: "{\"prompt\": \"a\", \"completion\": \"b\"}\n\uFEFF{\"prompt\": \"a\", \"completion\": \"b\"}",
		errLine: 2, errSub: "not valid JSON"},
	{name: "no-final-newline", typ: ContinuedPreTraining, in: `{"input": "x"}` + "\n" + `{"input": "y"}`,
		want: []Record{{Line: 1, Turns: []Turn{{"", "x"}}}, {Line: 2, Turns: []Turn{{"", "y"}}}}},
	{name: "conversation", typ: FineTuning,
		in: conv + `"system": [{"text": "Be brief."}, {"text": "Be kind."}], "messages": [{"role": "user", "content": [{"text": "Q1"}]}, ` +
			`{"role": "assistant", "content": [{"text": "A1"}, {"text": "A1b"}]}, {"role": "user", "content": [{"text": "Q2"}]}, {"role": "assistant", "content": [{"text": "A2"}]}]}`,
		want: []Record{{Line: 1, System: "Be brief.\nBe kind.", Turns: []Turn{{"user", "Q1"}, {"assistant", "A1\nA1b"}, {"user", "Q2"}, {"assistant", "A2"}}, Conversation: true}}},
	{name: "conversation-no-system", typ: FineTuning,
		in:   conv + `"messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		want: []Record{{Line: 1, Turns: []Turn{{"user", "Q"}, {"assistant", "A"}}, Conversation: true}}},
	{name: "cpt", typ: ContinuedPreTraining, in: `{"input": "Some text."}`,
		want: []Record{{Line: 1, Turns: []Turn{{"", "Some text."}}}}},

	// Errors.
	{name: "empty-file", typ: FineTuning, in: "", errSub: "Input data has no records"},
	{name: "only-blank-lines", typ: FineTuning, in: "\n\n \r\n", errSub: "Input data has no records"},
	{name: "bad-json", typ: FineTuning, in: `{"prompt": "a", "completion": "b"}` + "\n" + `{"prompt": "a", "completion": }`,
		errLine: 2, errSub: "Input data at line 2 is not valid JSON"},
	{name: "trailing-garbage", typ: FineTuning, in: `{"prompt": "a", "completion": "b"} x`, errLine: 1, errSub: "not valid JSON"},
	{name: "two-values", typ: FineTuning, in: `{"prompt": "a", "completion": "b"} {"prompt": "a", "completion": "b"}`, errLine: 1, errSub: "not valid JSON"},
	{name: "not-an-object", typ: FineTuning, in: `["a", "b"]`, errLine: 1,
		errSub: `Input data at line 1 must follow '{"prompt": "<input text>", "completion": "<output text>"}' format`},
	{name: "missing-completion", typ: FineTuning, in: "{\"prompt\": \"a\", \"completion\": \"b\"}\n\n{\"prompt\": \"a\"}", errLine: 3,
		errSub: `Input data at line 3 must follow '{"prompt": "<input text>", "completion": "<output text>"}' format`},
	{name: "wrong-field-names", typ: FineTuning, in: `{"question": "a", "answer": "b"}`, errLine: 1, errSub: `must follow '{"prompt"`},
	{name: "unknown-field", typ: FineTuning, in: `{"prompt": "a", "completion": "b", "extra": "c"}`, errLine: 1, errSub: `must follow '{"prompt"`},
	{name: "duplicate-field", typ: FineTuning, in: `{"prompt": "a", "completion": "b", "completion": "c"}`, errLine: 1, errSub: "duplicate field"},
	{name: "number-completion", typ: FineTuning, in: `{"prompt": "a", "completion": 5}`, errLine: 1, errSub: `must follow '{"prompt"`},
	{name: "null-prompt", typ: FineTuning, in: `{"prompt": null, "completion": "b"}`, errLine: 1, errSub: `must follow '{"prompt"`},
	{name: "empty-completion", typ: FineTuning, in: `{"prompt": "a", "completion": ""}`, errLine: 1, errSub: "empty completion"},
	{name: "blank-completion", typ: FineTuning, in: `{"prompt": "a", "completion": " \n "}`, errLine: 1, errSub: "empty completion"},
	{name: "cpt-prompt-record", typ: ContinuedPreTraining, in: `{"prompt": "a", "completion": "b"}`, errLine: 1,
		errSub: `Input data at line 1 must follow '{"input": "<input text>"}' format`},
	{name: "cpt-empty-input", typ: ContinuedPreTraining, in: `{"input": ""}`, errLine: 1, errSub: "empty input"},
	{name: "ft-input-record", typ: FineTuning, in: `{"input": "a"}`, errLine: 1, errSub: `must follow '{"prompt"`},
	{name: "conv-no-schema", typ: FineTuning, in: `{"messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: `must set "schemaVersion"`},
	{name: "conv-wrong-schema", typ: FineTuning, in: `{"schemaVersion": "bedrock-conversion-2024", "messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: `must set "schemaVersion"`},
	{name: "conv-starts-with-assistant", typ: FineTuning, in: conv + `"messages": [{"role": "assistant", "content": [{"text": "A"}]}, {"role": "user", "content": [{"text": "Q"}]}]}`,
		errLine: 1, errSub: "must alternate user and assistant"},
	{name: "conv-two-users", typ: FineTuning, in: conv + `"messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: "must alternate user and assistant"},
	{name: "conv-ends-with-user", typ: FineTuning, in: conv + `"messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "A"}]}, {"role": "user", "content": [{"text": "Q"}]}]}`,
		errLine: 1, errSub: "must end with an assistant message"},
	{name: "conv-no-messages", typ: FineTuning, in: conv + `"messages": []}`, errLine: 1, errSub: "must have messages"},
	{name: "conv-bad-role", typ: FineTuning, in: conv + `"messages": [{"role": "system", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: `neither "user" nor "assistant"`},
	{name: "conv-unknown-content-field", typ: FineTuning, in: conv + `"messages": [{"role": "user", "content": [{"text": "Q", "image": "x"}]}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: `must follow '{"schemaVersion"`},
	{name: "conv-unknown-message-field", typ: FineTuning, in: conv + `"messages": [{"role": "user", "content": [{"text": "Q"}], "name": "x"}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: `must follow '{"schemaVersion"`},
	{name: "conv-unknown-top-field", typ: FineTuning, in: conv + `"prompt": "x", "messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: `must follow '{"schemaVersion"`},
	{name: "conv-empty-content", typ: FineTuning, in: conv + `"messages": [{"role": "user", "content": []}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: `must follow '{"schemaVersion"`},
	{name: "conv-blank-text", typ: FineTuning, in: conv + `"messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": " "}]}]}`,
		errLine: 1, errSub: "blank message text"},
	{name: "conv-blank-system", typ: FineTuning, in: conv + `"system": [{"text": ""}], "messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: "blank system text"},
	{name: "conv-system-string", typ: FineTuning, in: conv + `"system": "Be brief.", "messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "A"}]}]}`,
		errLine: 1, errSub: `must follow '{"schemaVersion"`},
	{name: "invalid-utf8", typ: FineTuning, in: "{\"prompt\": \"a\xff\", \"completion\": \"b\"}", errLine: 1, errSub: "Input data at line 1 is not valid UTF-8"},
	{name: "too-deep", typ: FineTuning, in: strings.Repeat("[", 100) + strings.Repeat("]", 100), errLine: 1, errSub: "nested too deeply"},
	{name: "record-chars", typ: FineTuning, lim: Limits{MaxRecordChars: 10}, in: `{"prompt": "héllo", "completion": "world!"}`,
		errLine: 1, errSub: "has 11 characters, over the limit of 10 characters per record"},
	{name: "record-chars-exact", typ: FineTuning, lim: Limits{MaxRecordChars: 10}, in: `{"prompt": "héllo", "completion": "world"}`,
		want: []Record{{Line: 1, Turns: []Turn{{"user", "héllo"}, {"assistant", "world"}}}}},
	{name: "record-chars-system", typ: FineTuning, lim: Limits{MaxRecordChars: 5},
		in:      conv + `"system": [{"text": "abc"}], "messages": [{"role": "user", "content": [{"text": "Q"}]}, {"role": "assistant", "content": [{"text": "AB"}]}]}`,
		errLine: 1, errSub: "has 6 characters"},
	{name: "max-records", typ: ContinuedPreTraining, lim: Limits{MaxRecords: 2}, in: "{\"input\": \"a\"}\n\n{\"input\": \"b\"}\n{\"input\": \"c\"}\n",
		errLine: 4, errSub: "Input data at line 4 is record 3, over the limit of 2 records"},
	{name: "max-bytes", typ: ContinuedPreTraining, lim: Limits{MaxBytes: 30}, in: "{\"input\": \"a\"}\n{\"input\": \"b\"}\n{\"input\": \"c\"}\n",
		errLine: 3, errSub: "Input data exceeds the file size limit of 30 bytes"},
	{name: "max-bytes-exact", typ: ContinuedPreTraining, lim: Limits{MaxBytes: 30}, in: "{\"input\": \"a\"}\n{\"input\": \"b\"}\n",
		want: []Record{{Line: 1, Turns: []Turn{{"", "a"}}}, {Line: 2, Turns: []Turn{{"", "b"}}}}},
	{name: "line-too-long", typ: ContinuedPreTraining, lim: Limits{MaxRecordChars: 1},
		in:      "{\"input\": \"a\"}\n{\"input\": \"" + strings.Repeat("\\u0041", 20000) + "\"}\n",
		errLine: 2, errSub: "Input data at line 2 is longer than the limit of 65548 bytes"},
}

func TestRead(t *testing.T) {
	for _, tc := range readCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tc.in), tc.typ, tc.lim)
			if tc.errSub == "" {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("records\n got: %+v\nwant: %+v", got, tc.want)
				}
				return
			}
			fe, ok := errors.AsType[*FormatError](err)
			if !ok {
				t.Fatalf("Read error = %v, want a *FormatError", err)
			}
			if got != nil {
				t.Errorf("Read returned %d records with an error", len(got))
			}
			if fe.Line != tc.errLine || !strings.Contains(fe.Error(), tc.errSub) {
				t.Fatalf("error at line %d %q, want line %d containing %q", fe.Line, fe.Error(), tc.errLine, tc.errSub)
			}
		})
	}
}

// TestReadUnsupportedType checks that a type Read cannot parse is a plain
// error, not a FormatError.
func TestReadUnsupportedType(t *testing.T) {
	_, err := Read(strings.NewReader(`{"prompt": "a", "completion": "b"}`), "DISTILLATION", Limits{})
	if err == nil {
		t.Fatal("DISTILLATION accepted")
	}
	if _, ok := errors.AsType[*FormatError](err); ok {
		t.Fatalf("got a FormatError: %v", err)
	}
}

// TestReadErrorsQuoteNoContent checks that no error repeats the file's
// text, whatever the fault.
func TestReadErrorsQuoteNoContent(t *testing.T) {
	const secret = "zqxjv"
	for _, in := range []string{
		`{"prompt": "zqxjv", "completion": }`,
		`{"zqxjv": "a", "completion": "b"}`,
		`{"prompt": "a", "completion": zqxjv}`,
		`zqxjv`,
		"{\"prompt\": \"zqxjv\xff\", \"completion\": \"b\"}",
		conv + `"messages": [{"role": "zqxjv", "content": [{"text": "Q"}]}]}`,
		conv + `"messages": [{"zqxjv": "user", "content": [{"text": "Q"}]}]}`,
	} {
		_, err := Read(strings.NewReader(in), FineTuning, Limits{})
		if err == nil {
			t.Fatalf("%q accepted", in)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q quotes the input", err)
		}
	}
}

// errReader fails after its data.
type errReader struct {
	data string
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadIOError checks that a failing reader's error comes back as is.
func TestReadIOError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Read(&errReader{data: `{"prompt": "a", "completion": "b"}` + "\n", err: boom}, FineTuning, Limits{})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	_, err = Read(&errReader{data: `{"prompt": "a", "comp`, err: io.ErrUnexpectedEOF}, FineTuning, Limits{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestDefaults checks the documented defaults.
func TestDefaults(t *testing.T) {
	ft, cpt := Limits{}.withDefaults(FineTuning), Limits{}.withDefaults(ContinuedPreTraining)
	if ft != (Limits{MaxBytes: 1 << 30, MaxRecords: 10000, MaxRecordChars: 24576}) {
		t.Errorf("FINE_TUNING defaults %+v", ft)
	}
	if cpt.MaxBytes != 10<<30 {
		t.Errorf("CONTINUED_PRE_TRAINING MaxBytes %d", cpt.MaxBytes)
	}
	if got := (Limits{MaxBytes: 100 << 20, MaxRecords: 5, MaxRecordChars: 7}).withDefaults(FineTuning); got.MaxBytes != 100<<20 || got.MaxRecords != 5 || got.MaxRecordChars != 7 {
		t.Errorf("explicit limits replaced: %+v", got)
	}
}
