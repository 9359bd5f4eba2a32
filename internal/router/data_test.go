package router

import (
	"fmt"
	"strings"
	"testing"
)

func TestReadExamples(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		want    []Example
		wantErr string
	}{
		{name: "banking77-layout", csv: "text,category\nI am still waiting on my card?,card_arrival\n\"two\nlines, quoted\",reverted_card_payment?\n",
			want: []Example{{"I am still waiting on my card?", "card_arrival"}, {"two\nlines, quoted", "reverted_card_payment?"}}},
		{name: "extra-columns-any-order", csv: "id,category,text\n1,a,hello\n", want: []Example{{"hello", "a"}}},
		{name: "missing-column", csv: "text,label\nx,y\n", wantErr: "lacks"},
		{name: "short-row", csv: "text,category\nonly\n", wantErr: "columns"},
		{name: "empty", csv: "", wantErr: "header"},
		{name: "bad-quote", csv: "text,category\n\"open,a\n", wantErr: "row"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadExamples(strings.NewReader(tc.csv))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadTierMap(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		names   []string
		wantErr string
	}{
		{name: "named", csv: "intent,tier,tier_name,rationale\na,1,simple,x\nb,2,moderate,y\nc,3,complex,z\n", names: []string{"simple", "moderate", "complex"}},
		{name: "unnamed", csv: "intent,tier\na,2\nb,1\n", names: []string{"tier1", "tier2"}},
		{name: "gap", csv: "intent,tier\na,1\nb,3\n", wantErr: "tier 2 has no intent"},
		{name: "tier-zero", csv: "intent,tier\na,0\n", wantErr: "not in"},
		{name: "not-a-number", csv: "intent,tier\na,high\n", wantErr: "not in"},
		{name: "duplicate", csv: "intent,tier\na,1\na,2\n", wantErr: "twice"},
		{name: "no-rows", csv: "intent,tier\n", wantErr: "no intents"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadTierMap(strings.NewReader(tc.csv))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Names) != fmt.Sprint(tc.names) {
				t.Errorf("names %v, want %v", got.Names, tc.names)
			}
		})
	}
}

func FuzzReadExamples(f *testing.F) {
	f.Add("text,category\nhello,a\n\"x\ny\",b\n")
	f.Add("category,text\n,\n")
	f.Fuzz(func(t *testing.T, s string) {
		ex, err := ReadExamples(strings.NewReader(s))
		if err == nil && len(ex) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d examples from %d lines", len(ex), strings.Count(s, "\n")+1)
		}
	})
}

func FuzzReadTierMap(f *testing.F) {
	f.Add("intent,tier,tier_name\na,1,simple\nb,2,complex\n")
	f.Add("intent,tier\na,16\n")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ReadTierMap(strings.NewReader(s))
		if err != nil {
			return
		}
		for intent, tier := range tm.Of {
			if tier < 0 || tier >= len(tm.Names) {
				t.Fatalf("intent %q has tier %d of %d", intent, tier, len(tm.Names))
			}
		}
	})
}

func TestSplit(t *testing.T) {
	var ex []Example
	for c, n := range map[string]int{"a": 100, "b": 35, "c": 1, "d": 2} {
		for i := range n {
			ex = append(ex, Example{Text: fmt.Sprintf("%s-%d", c, i), Category: c})
		}
	}
	count := func(es []Example) map[string]int {
		m := map[string]int{}
		for _, e := range es {
			m[e.Category]++
		}
		return m
	}
	train, val := Split(ex, 0.1, 7)
	if got := fmt.Sprint(count(val)); got != "map[a:10 b:4 d:1]" {
		t.Errorf("holdout per category = %s", got)
	}
	if len(train)+len(val) != len(ex) {
		t.Errorf("split lost examples")
	}
	seen := map[string]bool{}
	for _, e := range train {
		seen[e.Text] = true
	}
	for _, e := range val {
		if seen[e.Text] {
			t.Fatalf("%s in both splits", e.Text)
		}
	}
	train2, val2 := Split(ex, 0.1, 7)
	if fmt.Sprint(val2) != fmt.Sprint(val) || fmt.Sprint(train2) != fmt.Sprint(train) {
		t.Error("split is not deterministic")
	}
	if _, val3 := Split(ex, 0.1, 8); fmt.Sprint(val3) == fmt.Sprint(val) {
		t.Error("seed does not change the split")
	}
	if tr, v := Split(ex, 0, 7); len(tr) != len(ex) || v != nil {
		t.Error("frac 0 must keep everything for training")
	}
}

func TestReadCLINCOutOfScope(t *testing.T) {
	data := []byte(`{"oos_train":[["play a song","oos"]],"train":[["freeze my account","freeze_account"],["weather in paris","weather"]]}`)
	doms := []byte(`{"banking":["freeze_account"],"travel":["weather"]}`)
	got, err := ReadCLINCOutOfScope(data, doms, "train", []string{"banking"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[{play a song out_of_scope} {weather in paris out_of_scope}]" {
		t.Errorf("got %v", got)
	}
	if _, err := ReadCLINCOutOfScope(data, doms, "train", []string{"nope"}); err == nil {
		t.Error("unknown domain accepted")
	}
	if _, err := ReadCLINCOutOfScope(data, nil, "test", nil); err == nil {
		t.Error("missing oos_test accepted")
	}
}

func TestFeatures(t *testing.T) {
	f := &featurizer{spec: DefaultFeatures}
	a := append([]feature(nil), f.features("How do I change my PIN?")...)
	b := f.features("how do i change my pin")
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("case and punctuation should not change features")
	}
	norm := float32(0)
	for _, ft := range a {
		norm += ft.val * ft.val
		if ft.idx >= 1<<DefaultFeatures.HashBits {
			t.Fatalf("bucket %d out of range", ft.idx)
		}
	}
	if norm < 0.999 || norm > 1.001 {
		t.Errorf("squared norm %v, want 1", norm)
	}
	if len(f.features("")) != 0 || len(f.features("?!")) != 0 {
		t.Error("empty text has features")
	}
	long := f.features(strings.Repeat("abc ", 10000))
	if len(long) == 0 {
		t.Error("long text has no features")
	}
}
