package upstream

import (
	"encoding/json"
	"reflect"
	"testing"
)

// chunkSamples are chunks as vLLM, llama.cpp, Ollama and TGI send them,
// and some they could.
var chunkSamples = []string{
	`{"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"m","choices":[{"index":0,"text":" Once","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi\n\"there\"\u00e9 \u2603"},"logprobs":{"content":[{"token":"Hi","logprob":-0.25,"bytes":[72,105],"top_logprobs":[]}]},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"text":"","logprobs":{"tokens":["a",null],"token_logprobs":[-1.5e-3,null],"top_logprobs":null,"text_offset":[0]},"finish_reason":"stop","stop_reason":"\n\n"}],"usage":null}`,
	`{"id":"x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`,
	` {"choices":[{"index":1,"delta":{},"finish_reason":"length","stop_reason":50256}]} `,
	`{"error":{"message":"prompt too long","type":"BadRequestError","code":400}}`,
	`{"choices":null,"usage":{"prompt_tokens":1,"completion_tokens":2,"extra":{"a":[1,2,{"b":true}]}}}`,
	`{"object":"chat.completion.chunk","choices":[{"delta":{"content":null,"tool_calls":[]},"index":0}]}`,
	`{"choices":[{"index":0,"text":"caf\u00e9 ☕ 日本"}]}`,
}

// chunkOddities are chunks the fast decoder must hand to json.Unmarshal.
var chunkOddities = []string{
	`{"Choices":[]}`,                        // case-folded key
	`{"choices":[],"choices":[]}`,           // repeated key
	`{"choices":[{"text":"\ud83d\ude00"}]}`, // surrogate pair
	"{\"choices\":[{\"text\":\"a\xffb\"}]}", // invalid UTF-8
	`{"choices":[{"index":1.5}]}`,           // a float for an int
	`{"choices":[{"index":0}]} x`,           // trailing data
	`{"choices":[{"index":0}`,               // cut short
	`{"usage":{"prompt_tokens":null}}`,
}

func TestDecodeChunk(t *testing.T) {
	for _, s := range chunkSamples {
		var fast, slow chunkJSON
		if !decodeChunk([]byte(s), &fast) {
			t.Errorf("decodeChunk gave up on %s", s)
			continue
		}
		if err := json.Unmarshal([]byte(s), &slow); err != nil {
			t.Fatalf("json.Unmarshal(%s): %v", s, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("decodeChunk(%s) = %+v, json.Unmarshal gives %+v", s, fast, slow)
		}
	}
	for _, s := range chunkOddities {
		var c chunkJSON
		if decodeChunk([]byte(s), &c) {
			t.Errorf("decodeChunk(%s) did not give up", s)
		}
	}
}

// FuzzDecodeChunk holds decodeChunk to json.Unmarshal: whenever it does not
// give up, json.Unmarshal must succeed with the same result.
func FuzzDecodeChunk(f *testing.F) {
	for _, s := range chunkSamples {
		f.Add([]byte(s))
	}
	for _, s := range chunkOddities {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var fast, slow chunkJSON
		if !decodeChunk(in, &fast) {
			return
		}
		if err := json.Unmarshal(in, &slow); err != nil {
			t.Fatalf("decodeChunk accepted %q, json.Unmarshal: %v", in, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decodeChunk(%q) = %#v, json.Unmarshal gives %#v", in, fast, slow)
		}
	})
}

func BenchmarkDecodeChunk(b *testing.B) {
	data := []byte(chunkSamples[1])
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var c chunkJSON
			if !decodeChunk(data, &c) {
				b.Fatal("gave up")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var c chunkJSON
			if err := json.Unmarshal(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
