package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"strata/internal/engine"
	"strata/internal/modelimport"
)

// Blobs reads artifacts; blob.Store satisfies it.
type Blobs interface {
	Get(ctx context.Context, key string) (io.ReadCloser, error)
}

// Keys unwraps a model's data key and decrypts its files; the kms key ring
// satisfies it through a small adapter.
type Keys interface {
	// UnwrapDataKey decrypts a wrapped data key bound to encCtx.
	UnwrapDataKey(ctx context.Context, wrapped []byte, encCtx map[string]string) ([]byte, error)
	// DecryptStream returns a reader of the plaintext of r under key, bound to aad.
	DecryptStream(r io.Reader, key, aad []byte) (io.Reader, error)
}

// OpenEngine starts an engine over a plaintext model folder. The folder is
// removed once OpenEngine returns, so an engine must keep what it needs
// (memory mappings survive the files' removal).
type OpenEngine func(dir string) (engine.Engine, error)

// ImportedModel is an imported model the residency manager can load: its
// encrypted files are decrypted, checked against the manifest's SHA-256,
// and written only to PlainDir (a RAM-backed folder), which is emptied as
// soon as the engine has mapped them.
type ImportedModel struct {
	Model    *modelimport.Model
	Blobs    Blobs
	Keys     Keys
	PlainDir string // e.g. /dev/shm/strata; never a disk folder
	Open     OpenEngine
}

var _ Loadable = (*ImportedModel)(nil)

// Key implements Loadable.
func (m *ImportedModel) Key() string { return m.Model.ARN }

// Size implements Loadable: F32 weights are used in place, F16 and BF16
// are widened to F32 at load.
func (m *ImportedModel) Size() int64 {
	var c struct {
		TorchDType string `json:"torch_dtype"`
	}
	json.Unmarshal(m.Model.Config, &c)
	if c.TorchDType == "float16" || c.TorchDType == "bfloat16" {
		return 2 * m.Model.TotalBytes
	}
	return m.Model.TotalBytes
}

// Load implements Loadable.
func (m *ImportedModel) Load(ctx context.Context) (engine.Engine, error) {
	if err := os.MkdirAll(m.PlainDir, 0o700); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(m.PlainDir, "model-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := m.WriteFiles(ctx, dir); err != nil {
		return nil, err
	}
	return m.Open(dir)
}

// WriteFiles decrypts the model's files into dir (which should be in
// PlainDir), checking each against the manifest's size and SHA-256.
// Model customization reads a base model this way.
func (m *ImportedModel) WriteFiles(ctx context.Context, dir string) error {
	key, err := m.Keys.UnwrapDataKey(ctx, m.Model.WrappedKey, map[string]string{"aws:bedrock:arn": m.Model.ARN})
	if err != nil {
		return fmt.Errorf("unwrapping the data key of %s: %w", m.Model.ARN, err)
	}
	defer clear(key)
	for _, f := range m.Model.Files {
		if err := m.decryptFile(ctx, f, key, filepath.Join(dir, f.Name)); err != nil {
			return fmt.Errorf("decrypting %s of %s: %w", f.Name, m.Model.ARN, err)
		}
	}
	return nil
}

func (m *ImportedModel) decryptFile(ctx context.Context, f modelimport.ManifestFile, key []byte, dst string) error {
	rc, err := m.Blobs.Get(ctx, f.BlobKey)
	if err != nil {
		return err
	}
	defer rc.Close()
	pr, err := m.Keys.DecryptStream(rc, key, []byte(m.Model.ARN+"/"+f.Name))
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), pr)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n != f.Size {
		return fmt.Errorf("decrypted %d bytes, the manifest says %d", n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("SHA-256 %s does not match the manifest's %s", got, f.SHA256)
	}
	return nil
}
