package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// maxConfigBytes bounds the small JSON configuration files.
const maxConfigBytes = 16 << 20

// Load reads the tokenizer of a Hugging Face model folder: tokenizer.json
// when present, else tokenizer.model. It then applies, when present,
// tokenizer_config.json (bos_token, eos_token, add_bos_token, added tokens),
// special_tokens_map.json (bos_token, eos_token) and generation_config.json
// (bos_token_id, eos_token_id: an int or a list, all of which end generation).
func Load(dir string) (*Tokenizer, error) {
	t, err := loadModelFile(dir)
	if err != nil {
		return nil, err
	}
	if err := t.applyConfigs(dir); err != nil {
		return nil, err
	}
	return t, nil
}

// loadModelFile prefers tokenizer.json; when it is missing, or uses a
// component this package does not implement while a tokenizer.model is
// present, tokenizer.model is used.
func loadModelFile(dir string) (*Tokenizer, error) {
	f, err := os.Open(filepath.Join(dir, "tokenizer.json"))
	if err == nil {
		t, jerr := LoadJSON(f)
		f.Close()
		if jerr == nil {
			return t, nil
		}
		if _, serr := os.Stat(filepath.Join(dir, "tokenizer.model")); serr != nil {
			return nil, jerr
		}
		t, err := loadSentencePieceFile(dir)
		if err != nil {
			return nil, fmt.Errorf("%w (and tokenizer.model: %w)", jerr, err)
		}
		return t, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening tokenizer.json: %w", err)
	}
	return loadSentencePieceFile(dir)
}

func loadSentencePieceFile(dir string) (*Tokenizer, error) {
	f, err := os.Open(filepath.Join(dir, "tokenizer.model"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no tokenizer.json or tokenizer.model in %s: %w", dir, err)
		}
		return nil, fmt.Errorf("opening tokenizer.model: %w", err)
	}
	defer f.Close()
	return LoadSentencePiece(f)
}

// tokenField is a token given as a string or as {"content": string}.
type tokenField struct {
	Content string
	Set     bool
}

func (f *tokenField) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		f.Content, f.Set = s, true
		return nil
	}
	var o struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	f.Content, f.Set = o.Content, true
	return nil
}

// idList is an id given as a number or a list of numbers.
type idList []int

func (l *idList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var one int
	if err := json.Unmarshal(b, &one); err == nil {
		*l = idList{one}
		return nil
	}
	var many []int
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

type tokenizerConfig struct {
	BOSToken    tokenField `json:"bos_token"`
	EOSToken    tokenField `json:"eos_token"`
	AddBOSToken *bool      `json:"add_bos_token"`
	AddedTokens map[string]struct {
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens_decoder"`
}

type generationConfig struct {
	BOSTokenID idList `json:"bos_token_id"`
	EOSTokenID idList `json:"eos_token_id"`
}

// readJSONFile decodes dir/name into v; a missing file is not an error.
func readJSONFile(dir, name string, v any) (bool, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxConfigBytes {
		return false, fmt.Errorf("%s larger than %d bytes", name, maxConfigBytes)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("parsing %s: %w", name, err)
	}
	return true, nil
}

func (t *Tokenizer) applyConfigs(dir string) error {
	var stm, tc tokenizerConfig
	var gc generationConfig
	if _, err := readJSONFile(dir, "special_tokens_map.json", &stm); err != nil {
		return err
	}
	if _, err := readJSONFile(dir, "tokenizer_config.json", &tc); err != nil {
		return err
	}
	if _, err := readJSONFile(dir, "generation_config.json", &gc); err != nil {
		return err
	}
	// Token names: tokenizer_config.json wins over special_tokens_map.json.
	bosName, eosName := stm.BOSToken, stm.EOSToken
	if tc.BOSToken.Set {
		bosName = tc.BOSToken
	}
	if tc.EOSToken.Set {
		eosName = tc.EOSToken
	}
	if bosName.Set {
		if id, ok := t.ids[bosName.Content]; ok {
			t.bos = id
		}
	} else if len(gc.BOSTokenID) > 0 && gc.BOSTokenID[0] >= 0 && gc.BOSTokenID[0] < len(t.pieces) {
		t.bos = gc.BOSTokenID[0]
	}
	if tc.AddBOSToken != nil {
		t.addBOS = *tc.AddBOSToken
	}
	var eos []int
	if eosName.Set {
		if id, ok := t.ids[eosName.Content]; ok {
			eos = append(eos, id)
		}
	}
	for _, id := range gc.EOSTokenID {
		if id >= 0 && id < len(t.pieces) {
			eos = append(eos, id)
		}
	}
	if len(eos) > 0 {
		slices.Sort(eos)
		t.eos = slices.Compact(eos)
	}
	// Special tokens declared only in tokenizer_config.json (older exports).
	changed := false
	for _, a := range tc.AddedTokens {
		id, ok := t.ids[a.Content]
		if !ok || !a.Special || t.special[id] {
			continue
		}
		t.added = append(t.added, addedToken{content: a.Content, id: id, special: true})
		changed = true
	}
	if changed {
		t.finishAdded()
	}
	return t.checkIDs()
}
