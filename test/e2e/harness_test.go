// Package e2e runs the strata binary as a user would: it builds it, starts
// `strata serve` on loopback in a fresh data directory, and drives it with
// the real AWS SDKs (Go v2 in process, JavaScript v3 through node).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"strata/internal/store/postgres/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "strata")
	build := exec.Command("go", "build", "-o", binary, "strata/cmd/strata")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building strata:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `strata serve`.
type server struct {
	t        *testing.T
	dataDir  string
	endpoint string
	cmd      *exec.Cmd
	logs     *lockedBuffer
	done     chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer starts strata serve on a free loopback port with dataDir
// ("" makes a fresh one) and waits until it serves.
func startServer(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dataDir: dataDir, cmd: cmd, logs: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.logs.Write([]byte(line + "\n"))
			if ep, ok := strings.CutPrefix(line, "strata is serving on "); ok {
				found <- ep
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case s.endpoint = <-found:
	case <-s.done:
		t.Fatalf("strata serve exited early:\n%s", s.logs)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("strata serve did not start:\n%s", s.logs)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server logs:\n%s", s.logs)
		}
	})
	return s
}

// stop shuts the server down gracefully.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.t.Error("strata serve did not shut down within 20 s of SIGTERM")
		s.cmd.Process.Kill()
		<-s.done
	}
}

// kill stops the server with SIGKILL, as a crash would.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// awsConfig returns an SDK configuration that reaches the server with the
// admin credentials it wrote, changing only the endpoint.
func (s *server) awsConfig(t *testing.T) aws.Config {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(s.dataDir, "credentials")}),
		awsconfig.WithSharedConfigFiles([]string{}),
		awsconfig.WithBaseEndpoint(s.endpoint),
	)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPClient = ownBodyClient{http.DefaultClient}
	return cfg
}

// ownBodyClient sends each request with a private copy of its body. The
// SDK (smithy-go v1.28.8) closes the request body as soon as Do returns,
// while net/http may still read it, and the transport then closes the
// connection under a response stream ("use of closed network connection",
// seen under load). It is a client-side race; the server is not involved.
type ownBodyClient struct{ c *http.Client }

func (o ownBodyClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		buf, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(buf))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
		r.ContentLength = int64(len(buf))
	}
	return o.c.Do(r)
}

// credentials returns the admin access key the server wrote.
func (s *server) credentials(t *testing.T) (id, secret string) {
	t.Helper()
	cfg := s.awsConfig(t)
	c, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c.AccessKeyID, c.SecretAccessKey
}

// sharedDir returns the path of ../shared beside the repository.
func sharedDir(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "shared", "DESIGN.md")); err == nil {
			return filepath.Join(d, "shared")
		}
	}
	t.Fatal("../shared not found beside the repository")
	return ""
}

// freshPostgres creates an empty PostgreSQL database for one test and
// returns its URL (pgtest: the machine's PostgreSQL or STRATA_TEST_POSTGRES).
func freshPostgres(t *testing.T) string { return pgtest.URL(t) }
