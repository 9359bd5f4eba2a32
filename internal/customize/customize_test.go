package customize

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"strata/internal/chat"
	"strata/internal/convert"
	"strata/internal/finetune"
	"strata/internal/modelimport"
	"strata/internal/tokenizer"
	"strata/internal/trainingdata"
)

func TestCheckHyperParameters(t *testing.T) {
	got, err := checkHyperParameters(map[string]string{"epochCount": "3", "learningRate": " 0.001 "})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"epochCount": "3", "learningRate": "0.001", "batchSize": "1", "learningRateWarmupSteps": "5"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	opts, err := trainOptions(got)
	if err != nil || opts.Epochs != 3 || opts.BatchSize != 1 || opts.LearningRate != 0.001 || opts.WarmupSteps != 5 {
		t.Errorf("trainOptions = %+v, %v", opts, err)
	}
	for _, bad := range []map[string]string{
		{"epochCount": "0"}, {"epochCount": "11"}, {"epochCount": "1.5"}, {"batchSize": "65"},
		{"learningRate": "1"}, {"learningRate": "x"}, {"learningRateWarmupSteps": "-1"}, {"loraRank": "8"},
	} {
		if _, err := checkHyperParameters(bad); err == nil || !strings.Contains(err.Error(), "ValidationException") {
			t.Errorf("%v: %v, want a ValidationException", bad, err)
		}
	}
}

func TestParseS3URI(t *testing.T) {
	for _, c := range []struct {
		in     string
		object bool
		want   location
		ok     bool
	}{
		{"s3://bkt/train.jsonl", true, location{"bkt", "train.jsonl"}, true},
		{"s3://bkt/data/train.jsonl", true, location{"bkt", "data/train.jsonl"}, true},
		{"s3://bkt/out", false, location{"bkt", "out/"}, true},
		{"s3://bkt", false, location{"bkt", ""}, true},
		{"s3://bkt/", true, location{}, false},
		{"s3://bkt/dir/", true, location{}, false},
		{"s3://bkt/../x.jsonl", true, location{}, false},
		{"s3://B_bad/x", true, location{}, false},
		{"https://b/x", true, location{}, false},
		{"s3://bkt/x?versionId=1", true, location{}, false},
	} {
		got, err := parseS3URI(c.in, c.object)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseS3URI(%q, %v) = %+v, %v", c.in, c.object, got, err)
		}
	}
}

// storiesTokenizer converts llama2.c's stories260K (../shared) and loads
// its tokenizer.
func storiesTokenizer(t *testing.T) (*tokenizer.Tokenizer, chat.Template) {
	t.Helper()
	wd, _ := os.Getwd()
	var shared string
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "shared", "DESIGN.md")); err == nil {
			shared = filepath.Join(d, "shared")
			break
		}
	}
	if shared == "" {
		t.Skip("../shared not found")
	}
	src := filepath.Join(shared, "models", "stories260K")
	out := filepath.Join(t.TempDir(), "stories")
	if err := convert.Llama2C(t.Context(), filepath.Join(src, "stories260K.bin"), filepath.Join(src, "tok512.bin"), out, convert.Options{}); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chat.LoadTemplate(out, tok)
	if err != nil {
		t.Fatal(err)
	}
	return tok, tmpl
}

// TestSequences checks what training learns from: the completion (and the
// end-of-sequence token) for fine-tuning, every token for continued
// pre-training, the assistant turns of a conversation.
func TestSequences(t *testing.T) {
	tok, tmpl := storiesTokenizer(t)
	sequences := func(tok *tokenizer.Tokenizer, recs []trainingdata.Record, typ string) []finetune.Sequence {
		t.Helper()
		seqs, err := sequences(tok, tmpl, recs, typ)
		if err != nil {
			t.Fatal(err)
		}
		return seqs
	}
	learned := func(s []int, target []bool) string {
		var ids []int
		for i, id := range s {
			if target[i] && !slices.Contains(tok.EOS(), id) {
				ids = append(ids, id)
			}
		}
		return tok.Decode(ids)
	}
	pair := trainingdata.Record{Line: 1, Turns: []trainingdata.Turn{{Role: "user", Text: "Customer: hi\nAgent:"}, {Role: "assistant", Text: " I understand."}}}
	seqs := sequences(tok, []trainingdata.Record{pair}, FineTuning)
	s := seqs[0]
	if got := tok.Decode(s.Tokens); got != "Customer: hi\nAgent: I understand." {
		t.Errorf("tokens decode to %q", got)
	}
	if got := learned(s.Tokens, s.Target); strings.TrimSpace(got) != "I understand." {
		t.Errorf("fine-tuning learns %q, want the completion", got)
	}
	if last := len(s.Tokens) - 1; !slices.Contains(tok.EOS(), s.Tokens[last]) || !s.Target[last] {
		t.Error("fine-tuning does not learn to stop")
	}
	if s.Target[0] {
		t.Error("the first token is a target")
	}

	cpt := trainingdata.Record{Line: 1, Turns: []trainingdata.Turn{{Text: "Once upon a time"}}}
	s = sequences(tok, []trainingdata.Record{cpt}, ContinuedPreTraining)[0]
	for i := 1; i < len(s.Target); i++ {
		if !s.Target[i] {
			t.Errorf("continued pre-training skips token %d", i)
		}
	}

	// A conversation is formatted as Converse formats it (for this model
	// without a chat template, a plain transcript).
	conv := trainingdata.Record{Line: 1, Conversation: true, System: "Be kind.", Turns: []trainingdata.Turn{
		{Role: "user", Text: "Hi"}, {Role: "assistant", Text: "Hello."}, {Role: "user", Text: "Bye"}, {Role: "assistant", Text: "Goodbye."}}}
	s = sequences(tok, []trainingdata.Record{conv}, FineTuning)[0]
	msgs := []chat.Message{{Role: chat.RoleSystem, Content: "Be kind."}, {Role: chat.RoleUser, Content: "Hi"},
		{Role: chat.RoleAssistant, Content: "Hello."}, {Role: chat.RoleUser, Content: "Bye"}, {Role: chat.RoleAssistant, Content: "Goodbye."}}
	segs, err := chat.Format(tmpl, msgs, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := chat.Encode(tok, segs); !slices.Equal(s.Tokens, want) {
		t.Errorf("conversation tokens %v, Converse's formatting gives %v", s.Tokens, want)
	}
	got := learned(s.Tokens, s.Target)
	if !strings.Contains(got, "Hello.") || !strings.Contains(got, "Goodbye.") || strings.Contains(got, "Bye\n") || strings.Contains(got, "kind") || strings.Contains(got, "Hi") {
		t.Errorf("conversation learns %q, want the assistant turns only", got)
	}
	t.Logf("transcript %q learns %q", tok.Decode(s.Tokens), got)
}

// FuzzParseS3URI: any string parses or is refused; what parses names a
// valid bucket, a key without relative segments, and prints back to a URI
// that parses to the same location.
func FuzzParseS3URI(f *testing.F) {
	for _, s := range []string{"s3://bkt/train.jsonl", "s3://bkt/out/", "s3://bkt", "s3://bkt/../x", "s3://b/%2e%2e/x", "s3://bkt/a?b", "file:///x"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, object bool) {
		l, err := parseS3URI(s, object)
		if err != nil {
			return
		}
		if strings.Contains("/"+l.Key+"/", "/../") || strings.Contains("/"+l.Key+"/", "/./") {
			t.Fatalf("%q: key %q has a relative segment", s, l.Key)
		}
		if object && (l.Key == "" || strings.HasSuffix(l.Key, "/")) {
			t.Fatalf("%q: object key %q", s, l.Key)
		}
		if again, err := parseS3URI(l.String(), object); err == nil && again != l {
			t.Fatalf("%q -> %v -> %v", s, l, again)
		}
	})
}

func TestEstimateParams(t *testing.T) {
	for _, c := range []struct {
		dtype string
		bytes int64
		want  int64
	}{
		{"bfloat16", 14_483_464_192, 7_241_732_096}, // Mistral 7B
		{"float16", 2_000, 1_000},
		{"float32", 1_054_468, 263_617}, // stories260K converted
		{"", 2_000, 1_000},
	} {
		m := &modelimport.Model{TotalBytes: c.bytes, Config: []byte(`{"torch_dtype":"` + c.dtype + `"}`)}
		if got := estimateParams(m); got != c.want {
			t.Errorf("%s, %d bytes: %d parameters, want %d", c.dtype, c.bytes, got, c.want)
		}
	}
}
