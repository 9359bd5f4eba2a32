package guard

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// sharedDir finds the shared folder beside the repository by walking up
// from the working directory.
func sharedDir(tb testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "shared", "DESIGN.md")); err == nil {
			return filepath.Join(dir, "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("shared folder not found")
		}
		dir = parent
	}
}

// cardMarker precedes every card number inserted in the corpus.
const cardMarker = " -- the card to use is "

var (
	corpusOnce sync.Once
	corpusMsgs []string
	corpusErr  error
)

// chatCorpus returns realistic support-chat messages: banking77 queries,
// bitext customer-support requests and answers, and ABCD dialogue turns,
// with a test card number (in a random shape) in about one message in 25.
// It is deterministic.
func chatCorpus(tb testing.TB) []string {
	data := filepath.Join(sharedDir(tb), "data")
	corpusOnce.Do(func() {
		var msgs []string
		readCSV := func(path string, cols ...int) {
			f, err := os.Open(path)
			if err != nil {
				corpusErr = err
				return
			}
			defer f.Close()
			r := csv.NewReader(f)
			r.FieldsPerRecord = -1
			rows, err := r.ReadAll()
			if err != nil {
				corpusErr = err
				return
			}
			for _, row := range rows[1:] {
				for _, c := range cols {
					if c < len(row) {
						msgs = append(msgs, row[c])
					}
				}
			}
		}
		readCSV(filepath.Join(data, "banking77", "train.csv"), 0)
		readCSV(filepath.Join(data, "bitext_customer_support", "bitext_customer_support_4514.csv"), 2, 10)
		b, err := os.ReadFile(filepath.Join(data, "abcd", "abcd_sample.json"))
		if err == nil {
			var convs []struct {
				Original [][2]string `json:"original"`
			}
			if json.Unmarshal(b, &convs) == nil {
				for _, c := range convs {
					for _, turn := range c.Original {
						msgs = append(msgs, turn[1])
					}
				}
			}
		}
		rng := rand.New(rand.NewPCG(7, 7))
		rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
		for i := range msgs {
			if rng.IntN(25) == 0 {
				p := testPANs[rng.IntN(len(testPANs))].pan
				sh := shapes[rng.IntN(5)] // plain, spaces, dashes, dots, mixed
				msgs[i] += cardMarker + sh.f(p) + " exp 11/28"
			}
		}
		corpusMsgs = msgs
	})
	if corpusErr != nil {
		tb.Fatal(corpusErr)
	}
	return corpusMsgs
}

func corpusText(tb testing.TB) string { return strings.Join(chatCorpus(tb), "\n") }

// The regexp baseline implements the same card rules with Go's regexp:
// candidates of 13-19 digits with single separators, then the same brand,
// length and Luhn checks; context CVV, expiry and PIN by keyword patterns.
var (
	rePAN    = regexp.MustCompile(`\b(?:\d[ .\-]?){12,18}\d\b`)
	reCVV    = regexp.MustCompile(`(?i)\b(?:cvv2?|cvc2?|cid|csc|security code)\b\D{0,12}(\d{3,4})\b`)
	reExpiry = regexp.MustCompile(`(?i)\b(?:exp|expiry|expires|expiration|valid thru)\b\D{0,12}((?:0?[1-9]|1[0-2])\s?[/\-]\s?(?:20)?\d{2})\b`)
	rePIN    = regexp.MustCompile(`(?i)\bpin\b\D{0,12}(\d{4,6})\b`)
	rePII    = []*regexp.Regexp{
		regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`),
		regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`),
		regexp.MustCompile(`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b`),
		regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`),
		regexp.MustCompile(`(?:\+\d{1,3} ?)?\(?\d{3}\)?[ .\-]\d{3}[ .\-]\d{4}\b`),
		regexp.MustCompile(`https?://[^\s"'<>]+`),
		regexp.MustCompile(`\b(?:[0-9A-Fa-f]{2}[:\-]){5}[0-9A-Fa-f]{2}\b`),
		regexp.MustCompile(`\bA[KS]IA[A-Z0-9]{16}\b`),
		regexp.MustCompile(`(?i)\b(?:password|passwd|pwd)\b\W{0,3}(\S+)`),
	}
)

func regexpDetect(s string, pii bool) int {
	n := 0
	for _, m := range rePAN.FindAllStringIndex(s, -1) {
		var d []byte
		for i := m[0]; i < m[1]; i++ {
			if isDigit(s[i]) {
				d = append(d, s[i]-'0')
			}
		}
		if _, ok := brandOf(d); ok && luhn(d) {
			n++
		}
	}
	n += len(reCVV.FindAllStringIndex(s, -1)) + len(reExpiry.FindAllStringIndex(s, -1)) + len(rePIN.FindAllStringIndex(s, -1))
	if pii {
		for _, re := range rePII {
			n += len(re.FindAllStringIndex(s, -1))
		}
	}
	return n
}

func BenchmarkScan(b *testing.B) {
	text := corpusText(b)
	cards := 0
	for _, f := range Detect(text) {
		if f.Type == CardNumber {
			cards++
		}
	}
	b.Logf("corpus: %d messages, %d bytes, %d card numbers found", len(chatCorpus(b)), len(text), cards)
	b.Run("cards-handwritten", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		defer cpuMeter(b, len(text))()
		for b.Loop() {
			Detect(text)
		}
	})
	b.Run("all-pii-handwritten", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		defer cpuMeter(b, len(text))()
		for b.Loop() {
			DetectPII(text, nil)
		}
	})
	b.Run("cards-regexp", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		defer cpuMeter(b, len(text))()
		for b.Loop() {
			regexpDetect(text, false)
		}
	})
	b.Run("all-pii-regexp", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		defer cpuMeter(b, len(text))()
		for b.Loop() {
			regexpDetect(text, true)
		}
	})
}

// prompt2KB is a 2 KB support prompt made of corpus messages with one card.
func prompt2KB(tb testing.TB) string {
	msgs := chatCorpus(tb)
	var b strings.Builder
	for i := 0; b.Len() < 2000; i++ {
		b.WriteString(msgs[i])
		b.WriteByte('\n')
	}
	s := b.String()[:1950]
	return s + " card 4111 1111 1111 1111"
}

func BenchmarkPrompt2KB(b *testing.B) {
	p := prompt2KB(b)
	g := New(Options{})
	ctx := context.Background()
	b.Run("guard-input", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		defer cpuMeter(b, len(p))()
		for b.Loop() {
			if _, _, err := g.Input(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("detect-cards", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		defer cpuMeter(b, len(p))()
		for b.Loop() {
			Detect(p)
		}
	})
	b.Run("detect-all-pii", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		defer cpuMeter(b, len(p))()
		for b.Loop() {
			DetectPII(p, nil)
		}
	})
	b.Run("regexp-cards", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		defer cpuMeter(b, len(p))()
		for b.Loop() {
			regexpDetect(p, false)
		}
	})
}

func BenchmarkStream(b *testing.B) {
	text := corpusText(b)[:1<<20]
	b.SetBytes(int64(len(text)))
	defer cpuMeter(b, len(text))()
	for b.Loop() {
		st := NewStream()
		for i := 0; i < len(text); i += 16 { // token-sized chunks
			if _, err := st.Write(text[i:min(len(text), i+16)]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCorpusCards checks the detector against the corpus: every inserted
// card is found, and nothing else in the real chat text is flagged as a
// card (bitext messages hold many order numbers).
func TestCorpusCards(t *testing.T) {
	msgs := chatCorpus(t)
	inserted, found, falsePos := 0, 0, 0
	for _, m := range msgs {
		has := strings.Contains(m, cardMarker)
		if has {
			inserted++
		}
		n := 0
		for _, f := range Detect(m) {
			if f.Type == CardNumber {
				n++
			}
		}
		switch {
		case has && n == 1:
			found++
		case !has && n > 0:
			falsePos++
			if falsePos <= 5 {
				t.Logf("false positive in %q", m)
			}
		}
	}
	t.Logf("%d messages, %d cards inserted, %d found, %d false positives", len(msgs), inserted, found, falsePos)
	if found != inserted || falsePos > 0 {
		t.Errorf("found %d of %d inserted cards; %d false positives", found, inserted, falsePos)
	}
}

func ExampleMask() {
	t, fs, err := Mask("card 4111 1111 1111 1111 exp 12/27 cvv 123")
	fmt.Println(t.String(), len(fs), err)
	// Output: card [VISA ****1111] exp [EXPIRY] cvv [CVV] 3 <nil>
}
