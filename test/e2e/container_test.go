package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"strata/internal/convert"
)

// TestContainerContract serves stories260K with `strata serve --container`
// and speaks the guides' model-container contract to it.
func TestContainerContract(t *testing.T) {
	shared := sharedDir(t)
	dir := filepath.Join(t.TempDir(), "stories")
	if err := convert.Llama2C(t.Context(), filepath.Join(shared, "models", "stories260K", "stories260K.bin"),
		filepath.Join(shared, "models", "stories260K", "tok512.bin"), dir, convert.Options{}); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", "--container", dir)

	resp, err := http.Get(s.endpoint + "/ping")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/ping: %v %v", resp, err)
	}
	post := func(ct, body string) (int, map[string]any) {
		resp, err := http.Post(s.endpoint+"/invocations", ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post("application/json", `{"prompt":"Once upon a time","max_tokens":60,"temperature":0}`)
	text, _ := out["response"].(string)
	if code != 200 || text == "" || !strings.HasPrefix(referenceContinuation(t), text) {
		t.Errorf("invocations = %d %v", code, out)
	}
	if code, out := post("text/plain", "hi"); code != http.StatusUnsupportedMediaType || out["error"] == nil {
		t.Errorf("text/plain = %d %v", code, out)
	}
	if code, _ := post("application/json", `{"max_tokens":5}`); code != 400 {
		t.Errorf("no prompt = %d", code)
	}
	// Card data never reaches the model, and none comes back.
	code, out = post("application/json", `{"prompt":"My card is 4111 1111 1111 1111","max_tokens":5,"temperature":0}`)
	if code != 200 {
		t.Errorf("card prompt = %d %v", code, out)
	}
}
