package localfs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"strata/internal/blob"
)

const helperEnv = "STRATA_LOCALFS_CRASH_HELPER_DIR"

// TestCrashHelper is not a test: run by TestKilledPutLeavesNothing in a child
// process, it starts a Put, announces it, and hangs until it is killed.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	s, err := New(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	s.Put(context.Background(), "models/m1/shard.safetensors", &hangingReader{})
	os.Exit(1) // unreachable: the reader never ends
}

// hangingReader yields 4 MiB, says so on stdout, then blocks forever.
type hangingReader struct{ sent int }

func (h *hangingReader) Read(p []byte) (int, error) {
	if h.sent >= 4<<20 {
		fmt.Println("writing")
		select {}
	}
	n := min(len(p), 4<<20-h.sent)
	clear(p[:n])
	h.sent += n
	return n, nil
}

func TestKilledPutLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := newStoreAt(t, dir)
	put := func(key, v string) {
		if _, err := s.Put(t.Context(), key, bytes.NewReader([]byte(v))); err != nil {
			t.Fatal(err)
		}
	}
	put("models/m0/shard.safetensors", "complete")

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if l != "writing\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper said %q", l)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper never started writing")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	io.Copy(io.Discard, out)
	cmd.Wait()

	entries, _ := os.ReadDir(filepath.Join(dir, tmpDir))
	if len(entries) != 1 {
		t.Fatalf("expected the killed Put's temp file, found %d entries", len(entries))
	}
	s2 := newStoreAt(t, dir)
	if _, err := s2.Stat(t.Context(), "models/m1/shard.safetensors"); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("killed Put is visible: %v", err)
	}
	list, err := s2.List(t.Context(), "")
	if err != nil || len(list) != 1 || list[0].Key != "models/m0/shard.safetensors" {
		t.Fatalf("List after crash = %v, %v", list, err)
	}
	if n, err := s2.CleanTemp(0); err != nil || n != 1 {
		t.Fatalf("CleanTemp(0) = %d, %v", n, err)
	}
}
