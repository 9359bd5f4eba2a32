package guard

import (
	"strings"
	"testing"
)

func streamAll(t *testing.T, chunks []string) (string, *Stream) {
	t.Helper()
	st := NewStream()
	var b strings.Builder
	for _, c := range chunks {
		o, err := st.Write(c)
		if err != nil {
			t.Fatalf("Write(%q): %v", c, err)
		}
		if st.Held() > MaxHoldback {
			t.Fatalf("holding %d bytes > MaxHoldback %d", st.Held(), MaxHoldback)
		}
		b.WriteString(o)
	}
	o, err := st.Close()
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString(o)
	return b.String(), st
}

func TestStream(t *testing.T) {
	cases := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"split-digits", []string{"card 4111 11", "11 1111 1111 ok"}, "card [VISA ****1111] ok"},
		{"one-byte-chunks", strings.Split("pay 5555-5555-5555-4444 now", ""), "pay [MASTERCARD ****4444] now"},
		{"split-utf8-fullwidth", []string{"４１１１ １１１１ １１", "１１ １１１１\xef", "\xbc\x8e"}, "[VISA ****1111]．"},
		{"split-json-escape", []string{`{"n":"\u003`, `4\u0032` + strings.Repeat(`\u0034\u0032`, 7) + `"}`}, `{"n":"[VISA ****4242]"}`},
		{"split-html-tag", []string{"4111<sp", "an>1111</span>11111111 x"}, "[VISA ****1111] x"},
		{"no-card-released-at-once", []string{"hello there, ", "how are you"}, "hello there, how are you"},
		{"cvv-keyword-split", []string{"the cv", "v is 123."}, "the cvv is [CVV]."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := streamAll(t, tc.chunks)
			if got != tc.want {
				t.Errorf("stream output %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStreamReleasesPlainTextImmediately(t *testing.T) {
	st := NewStream()
	out, err := st.Write("Your balance is fine. Order ")
	if err != nil || out != "Your balance is fine. Order " || st.Held() != 0 {
		t.Fatalf("Write = %q, %v; held %d", out, err, st.Held())
	}
	out, _ = st.Write("12345")
	if out != "" || st.Held() != 5 {
		t.Fatalf("open digit run released early: %q held %d", out, st.Held())
	}
	out, _ = st.Write(" shipped")
	if out != "12345 shipped" {
		t.Fatalf("closed run not released: %q", out)
	}
}

func TestStreamHoldBounded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chunk string
		n     int
	}{
		{"spaced-digits", "4 ", 5000},
		{"endless-digits", "1234567890", 5000},
		{"digits-and-tags", "41<b>", 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := make([]string, tc.n)
			for i := range chunks {
				chunks[i] = tc.chunk
			}
			streamAll(t, chunks)
		})
	}
}

func TestStreamAfterClose(t *testing.T) {
	st := NewStream()
	st.Close()
	if _, err := st.Write("x"); err != ErrStreamClosed {
		t.Fatalf("Write after Close: %v", err)
	}
}
