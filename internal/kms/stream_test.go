package kms

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

func dataKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, DataKeySize)
	rand.Read(k)
	return k
}

func pseudoRandom(n int) []byte {
	r := mrand.New(mrand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func encryptStream(t testing.TB, key, aad, plain []byte, writeSize int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, key, aad)
	if err != nil {
		t.Fatal(err)
	}
	for p := plain; len(p) > 0; {
		n := min(writeSize, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decryptStream(key, aad, ct []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(ct), key, aad)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestStreamRoundTrip(t *testing.T) {
	const c = StreamChunkSize
	key := dataKey(t)
	aad := []byte("model/m1/model-00001-of-00002.safetensors")
	tests := []struct {
		name      string
		size      int
		writeSize int
	}{
		{"empty", 0, 1},
		{"one-byte", 1, 1},
		{"chunk-minus-one", c - 1, 1000},
		{"chunk", c, c},
		{"chunk-plus-one", c + 1, 7},
		{"two-chunks", 2 * c, 3 * c},
		{"two-chunks-plus-one-byte-writes", 2*c + 1, 1},
		{"multi-mb-odd-writes", 3<<20 + 5, 10007},
		{"multi-mb-one-write", 5 << 20, 5 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plain := pseudoRandom(tc.size)
			ct := encryptStream(t, key, aad, plain, tc.writeSize)
			if int64(len(ct)) != EncryptedSize(int64(tc.size)) {
				t.Errorf("ciphertext is %d bytes, EncryptedSize says %d", len(ct), EncryptedSize(int64(tc.size)))
			}
			if n, err := PlaintextSize(int64(len(ct))); err != nil || n != int64(tc.size) {
				t.Errorf("PlaintextSize(%d) = %d, %v; want %d", len(ct), n, err, tc.size)
			}
			got, err := decryptStream(key, aad, ct)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("round trip changed the data (%d bytes in, %d out)", len(plain), len(got))
			}
			// io.Copy goes through WriteTo.
			r, err := NewReader(bytes.NewReader(ct), key, aad)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if n, err := io.Copy(&out, r); err != nil || n != int64(tc.size) || !bytes.Equal(out.Bytes(), plain) {
				t.Fatalf("io.Copy = %d, %v", n, err)
			}
			// Small reads.
			r, _ = NewReader(bytes.NewReader(ct), key, aad)
			got, err = io.ReadAll(io.LimitReader(oneByteReader{r}, int64(min(tc.size, 3*c))))
			if err != nil || !bytes.Equal(got, plain[:min(tc.size, 3*c)]) {
				t.Fatalf("one-byte reads: %v", err)
			}
		})
	}
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestStreamSameInputDiffers(t *testing.T) {
	key := dataKey(t)
	a := encryptStream(t, key, nil, []byte("same"), 4)
	b := encryptStream(t, key, nil, []byte("same"), 4)
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of the same plaintext are identical")
	}
}

func TestStreamTamperDetected(t *testing.T) {
	const c = StreamChunkSize
	const full = c + gcmTagLen
	key := dataKey(t)
	aad := []byte("aad")
	plain := pseudoRandom(3*c + 100) // four chunks
	ct := encryptStream(t, key, aad, plain, 4096)
	other := encryptStream(t, key, aad, pseudoRandom(3*c+101), 4096)
	h := StreamHeaderSize
	chunk := func(b []byte, i int) []byte { return b[h+i*full : min(len(b), h+(i+1)*full)] }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(i int) []byte { b := bytes.Clone(ct); b[i] ^= 0x01; return b }

	tests := []struct {
		name string
		ct   []byte
		key  []byte
		aad  []byte
	}{
		{"flip-magic", flip(0), key, aad},
		{"flip-chunk-size", flip(4), key, aad},
		{"flip-salt", flip(6), key, aad},
		{"flip-nonce-prefix", flip(h - 1), key, aad},
		{"flip-first-chunk", flip(h + 10), key, aad},
		{"flip-first-tag", flip(h + full - 1), key, aad},
		{"flip-last-chunk", flip(len(ct) - 20), key, aad},
		{"flip-last-byte", flip(len(ct) - 1), key, aad},
		{"empty", nil, key, aad},
		{"header-only", ct[:h], key, aad},
		{"short-header", ct[:h-1], key, aad},
		{"truncated-at-chunk-boundary", ct[:h+3*full], key, aad},
		{"truncated-after-first-chunk", ct[:h+full], key, aad},
		{"truncated-mid-chunk", ct[:h+full+100], key, aad},
		{"last-byte-dropped", ct[:len(ct)-1], key, aad},
		{"trailing-garbage", cat(ct, []byte{0}), key, aad},
		{"chunks-swapped", cat(ct[:h], chunk(ct, 1), chunk(ct, 0), chunk(ct, 2), chunk(ct, 3)), key, aad},
		{"chunk-duplicated", cat(ct[:h], chunk(ct, 0), chunk(ct, 0), chunk(ct, 2), chunk(ct, 3)), key, aad},
		{"chunk-dropped", cat(ct[:h], chunk(ct, 0), chunk(ct, 2), chunk(ct, 3)), key, aad},
		{"chunk-from-other-stream", cat(ct[:h], chunk(ct, 0), chunk(other, 1), chunk(ct, 2), chunk(ct, 3)), key, aad},
		{"header-from-other-stream", cat(other[:h], ct[h:]), key, aad},
		{"wrong-key", ct, dataKey(t), aad},
		{"wrong-aad", ct, key, []byte("aae")},
		{"missing-aad", ct, key, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decryptStream(tc.key, tc.aad, tc.ct)
			if err == nil {
				t.Fatalf("decrypted %d bytes of a tampered stream", len(got))
			}
			if !errors.Is(err, ErrStreamCorrupt) || !errors.Is(err, ErrInvalidCiphertext) {
				t.Fatalf("error = %v, want ErrStreamCorrupt", err)
			}
		})
	}
}

func TestStreamBadKey(t *testing.T) {
	if _, err := NewWriter(io.Discard, make([]byte, 16), nil); !errors.Is(err, ErrValidation) {
		t.Errorf("NewWriter with a 16-byte key: %v", err)
	}
	ct := encryptStream(t, dataKey(t), nil, []byte("x"), 1)
	if _, err := NewReader(bytes.NewReader(ct), nil, nil); !errors.Is(err, ErrValidation) {
		t.Errorf("NewReader with no key: %v", err)
	}
}

func TestStreamWriterErrors(t *testing.T) {
	w, err := NewWriter(&bytes.Buffer{}, dataKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	boom := errors.New("disk full")
	fw := &failAfter{n: StreamHeaderSize, err: boom}
	w, err = NewWriter(fw, dataKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 2*StreamChunkSize))
	if err := w.Close(); !errors.Is(err, boom) {
		t.Errorf("Close error = %v, want the writer's error", err)
	}
}

type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n < len(p) {
		return 0, f.err
	}
	f.n -= len(p)
	return len(p), nil
}

func FuzzStreamReader(f *testing.F) {
	key := bytes.Repeat([]byte{7}, DataKeySize)
	// Fuzz workers are separate processes whose seeds were encrypted with
	// other random salts, so compare plaintexts, not ciphertexts.
	var plains [][]byte
	for _, n := range []int{0, 1, 100, StreamChunkSize + 1} {
		plain := pseudoRandom(n)
		plains = append(plains, plain)
		f.Add(encryptStream(f, key, []byte("a"), plain, 4096))
	}
	f.Add([]byte("STS1\x10"))
	f.Fuzz(func(t *testing.T, ct []byte) {
		got, err := decryptStream(key, []byte("a"), ct)
		if err != nil {
			if !errors.Is(err, ErrStreamCorrupt) {
				t.Fatalf("error %v is not ErrStreamCorrupt", err)
			}
			return
		}
		if !slices.ContainsFunc(plains, func(p []byte) bool { return bytes.Equal(p, got) }) {
			t.Fatalf("a stream that was never written decrypted to %d bytes", len(got))
		}
	})
}

func BenchmarkStreamEncrypt(b *testing.B) {
	key := dataKey(b)
	plain := pseudoRandom(64 << 20)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		w, err := NewWriter(io.Discard, key, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(plain); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamDecrypt(b *testing.B) {
	key := dataKey(b)
	ct := encryptStream(b, key, nil, pseudoRandom(64<<20), 1<<20)
	b.SetBytes(64 << 20)
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(ct), key, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStreamReaderAt(t *testing.T) {
	const c = StreamChunkSize
	key := dataKey(t)
	aad := []byte("shard")
	for _, size := range []int{0, 1, c - 1, c, c + 1, 3*c + 17} {
		t.Run(fmt.Sprintf("size-%d", size), func(t *testing.T) {
			plain := pseudoRandom(size)
			ct := encryptStream(t, key, aad, plain, 5000)
			ra, err := NewReaderAt(bytes.NewReader(ct), int64(len(ct)), key, aad)
			if err != nil {
				t.Fatal(err)
			}
			if ra.Size() != int64(size) {
				t.Fatalf("Size = %d", ra.Size())
			}
			got, err := io.ReadAll(io.NewSectionReader(ra, 0, ra.Size()))
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("sequential read via ReadAt: %v", err)
			}
			r := mrand.New(mrand.NewPCG(1, 2))
			for range 50 {
				if size == 0 {
					break
				}
				off := r.IntN(size)
				n := r.IntN(2*c) + 1
				buf := make([]byte, n)
				m, err := ra.ReadAt(buf, int64(off))
				want := plain[off:min(size, off+n)]
				if m != len(want) || !bytes.Equal(buf[:m], want) {
					t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, m, err)
				}
				if m < n && err != io.EOF {
					t.Fatalf("short ReadAt without io.EOF: %v", err)
				}
			}
		})
	}
	plain := pseudoRandom(3*c + 17)
	ct := encryptStream(t, key, aad, plain, 5000)
	bad := []struct {
		name string
		ct   []byte
		key  []byte
	}{
		{"truncated-at-boundary", ct[:StreamHeaderSize+3*(c+gcmTagLen)], key},
		{"extended", append(bytes.Clone(ct), 0), key},
		{"wrong-key", ct, dataKey(t)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewReaderAt(bytes.NewReader(tc.ct), int64(len(tc.ct)), tc.key, aad); !errors.Is(err, ErrStreamCorrupt) {
				t.Fatalf("NewReaderAt = %v, want ErrStreamCorrupt", err)
			}
		})
	}
	t.Run("tampered-middle-chunk", func(t *testing.T) {
		b := bytes.Clone(ct)
		b[StreamHeaderSize+c+gcmTagLen+5] ^= 1
		ra, err := NewReaderAt(bytes.NewReader(b), int64(len(b)), key, aad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ra.ReadAt(make([]byte, 10), 0); err != nil {
			t.Fatalf("untouched chunk 0: %v", err)
		}
		if _, err := ra.ReadAt(make([]byte, 10), int64(c+3)); !errors.Is(err, ErrStreamCorrupt) {
			t.Fatalf("tampered chunk 1: %v", err)
		}
	})
}
