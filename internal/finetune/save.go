package finetune

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"strata/internal/safetensors"
)

// Save writes the model as an HF folder: config.json (the loaded config,
// byte for byte) and model.safetensors (F32, the HF tensor names the engine
// loads; tied embeddings stay tied, with no lm_head.weight). It does not
// copy tokenizer files (the caller does). Each file is written to a
// temporary name, synced and renamed into place. dir is created if needed;
// it should not hold other weight files (a stale sharded index there would
// shadow model.safetensors).
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	specs := make([]safetensors.TensorSpec, len(m.lay.tensors))
	for i, t := range m.lay.tensors {
		shape := make([]int64, len(t.shape))
		for j, d := range t.shape {
			shape[j] = int64(d)
		}
		specs[i] = safetensors.TensorSpec{Name: t.name, DType: safetensors.F32, Shape: shape}
	}
	err := writeAtomic(filepath.Join(dir, "model.safetensors"), func(w io.Writer) error {
		sw, err := safetensors.NewWriter(w, specs, map[string]string{"format": "pt"})
		if err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<16)
		for _, t := range m.lay.tensors {
			vals := m.params[t.off : t.off+t.size()]
			for len(vals) > 0 {
				n := min(len(vals), cap(buf)/4)
				buf = buf[:0]
				for _, v := range vals[:n] {
					buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				}
				if _, err := sw.Write(buf); err != nil {
					return err
				}
				vals = vals[n:]
			}
		}
		return sw.Close()
	})
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "config.json"), func(w io.Writer) error {
		_, err := w.Write(m.config)
		return err
	})
}

// writeAtomic writes path through fill into a temporary file beside it,
// syncs it and renames it into place.
func writeAtomic(path string, fill func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := fill(bw); err != nil {
		return fmt.Errorf("finetune: writing %s: %w", filepath.Base(path), err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("finetune: writing %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	return nil
}
