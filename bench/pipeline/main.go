// Command pipeline measures what strata's invocation pipeline adds to a
// request: the same loopback OpenAI-compatible upstream is called directly
// and through strata (Bedrock InvokeModel with SigV4, the guard, quotas off,
// metrics and the audit trail on), interleaved in one run, at concurrency 1
// and 16; then strata's requests per second at concurrency 32.
//
// The upstream runs in a process of its own, as a model server does, so
// both paths cross the same process boundaries: client to upstream, and
// client to strata to upstream. -upstream-in-process puts it in the
// client's process instead, which makes the direct path cheaper than any
// real deployment's (no wake-up of another process between request and
// reply) and so inflates the difference.
//
//	go run ./bench/pipeline [-n 2000] [-duration 5s] [-upstream-in-process]
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"strata/internal/engine/upstream/upstreamtest"
)

func main() {
	n := flag.Int("n", 2000, "requests per side per concurrency level")
	dur := flag.Duration("duration", 5*time.Second, "length of the throughput run")
	inProcess := flag.Bool("upstream-in-process", false, "serve the upstream from this process rather than a process of its own")
	serveUpstream := flag.Bool("serve-upstream", false, "internal: serve the upstream, print its URL, and wait for stdin to close")
	flag.Parse()
	if *serveUpstream {
		up := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{Model: "up", Reply: []string{"ok"}})
		fmt.Println(up.BaseURL())
		io.Copy(io.Discard, os.Stdin)
		up.Close()
		return
	}
	if err := run(*n, *dur, *inProcess); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

func run(n int, dur time.Duration, inProcess bool) error {
	ctx := context.Background()
	upURL, stop, err := startUpstream(inProcess)
	if err != nil {
		return err
	}
	defer stop()
	work, err := os.MkdirTemp("", "strata-pipeline-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "strata")
	if out, err := exec.Command("go", "build", "-o", bin, "strata/cmd/strata").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(work, "strata.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`log: {level: warn}
quotas: {requests_per_minute: 0, tokens_per_minute: 0}
engines:
  - {name: up, type: openai, url: %q, model: up, estimate_tokens: true, probe_interval: 0s, retries: 0}
`, upURL)), 0o600)
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(work, "data"), "--listen", "127.0.0.1:0", "--config", cfgPath)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	endpoint := ""
	for sc.Scan() {
		if ep, ok := strings.CutPrefix(sc.Text(), "strata is serving on "); ok {
			endpoint = ep
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if endpoint == "" {
		return fmt.Errorf("strata did not start")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(work, "data", "credentials")}))
	if err != nil {
		return err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	directBody := []byte(`{"model":"up","prompt":"hello","max_tokens":1,"stream":true,"stream_options":{"include_usage":true}}`)
	strataBody := []byte(`{"prompt":"hello","max_tokens":1}`)
	sum := sha256.Sum256(strataBody)
	// One signed request, replayed: its signature stays valid for minutes,
	// so the client spends no CPU signing during the measurement.
	signed := func() http.Header {
		req, _ := http.NewRequest(http.MethodPost, endpoint+"/model/up/invoke", bytes.NewReader(strataBody))
		req.Header.Set("Content-Type", "application/json")
		v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bedrock", "us-east-1", time.Now())
		return req.Header
	}()
	do := func(url string, body []byte, h http.Header) (time.Duration, error) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range h {
			req.Header[k] = v
		}
		t := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("%s: %s", url, resp.Status)
		}
		return time.Since(t), nil
	}
	direct := func() (time.Duration, error) { return do(upURL+"/completions", directBody, nil) }
	viaStrata := func() (time.Duration, error) { return do(endpoint+"/model/up/invoke", strataBody, signed) }
	// Warm up both paths.
	for range 200 {
		if _, err := direct(); err != nil {
			return err
		}
		if _, err := viaStrata(); err != nil {
			return err
		}
	}
	where := "in a process of its own"
	if inProcess {
		where = "in the client's process"
	}
	fmt.Printf("added latency of strata's pipeline (SigV4, guard in and out, metrics, audit) over the same loopback upstream (%s)\n", where)
	for _, c := range []int{1, 16} {
		var mu sync.Mutex
		var d, s []time.Duration
		var wg sync.WaitGroup
		var failed atomic.Value
		per := n / c
		for range c {
			wg.Go(func() {
				for i := range per {
					first, second := direct, viaStrata
					if i%2 == 1 {
						first, second = viaStrata, direct
					}
					a, err1 := first()
					b, err2 := second()
					if err := cmpErr(err1, err2); err != nil {
						failed.Store(err)
						return
					}
					if i%2 == 1 {
						a, b = b, a
					}
					mu.Lock()
					d, s = append(d, a), append(s, b)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			return err
		}
		md, ms := median(d), median(s)
		fmt.Printf("  concurrency %2d: direct median %7.3f ms, via strata %7.3f ms, added %6.3f ms  (p90 direct %.3f, strata %.3f; %d pairs)\n",
			c, ms2(md), ms2(ms), ms2(ms-md), ms2(pct(d, 90)), ms2(pct(s, 90)), len(d))
	}
	for _, c := range []int{32} {
		for _, side := range []struct {
			name string
			fn   func() (time.Duration, error)
		}{{"direct upstream", direct}, {"via strata", viaStrata}} {
			var count atomic.Int64
			deadline := time.Now().Add(dur)
			var wg sync.WaitGroup
			for range c {
				wg.Go(func() {
					for time.Now().Before(deadline) {
						if _, err := side.fn(); err == nil {
							count.Add(1)
						}
					}
				})
			}
			wg.Wait()
			fmt.Printf("  throughput, concurrency %d, %s: %.0f requests/s\n", c, side.name, float64(count.Load())/dur.Seconds())
		}
	}
	return nil
}

// startUpstream starts the loopback upstream, in this process or in a
// child running this program with -serve-upstream, and returns its base URL.
func startUpstream(inProcess bool) (string, func(), error) {
	if inProcess {
		up := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{Model: "up", Reply: []string{"ok"}})
		return up.BaseURL(), up.Close, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "-serve-upstream")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { stdin.Close(); cmd.Wait() }
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("upstream process: %w", err)
	}
	return strings.TrimSpace(url), stop, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func median(xs []time.Duration) time.Duration { return pct(xs, 50) }

func pct(xs []time.Duration, p int) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)*p/100]
}

func ms2(d time.Duration) float64 { return float64(d) / 1e6 }
