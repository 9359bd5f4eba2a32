// Command pipeline measures what strata's invocation pipeline adds to a
// request: the same loopback OpenAI-compatible upstream is called directly
// and through strata (Bedrock InvokeModel with SigV4, the guard, quotas off,
// metrics and the audit trail on), interleaved in one run, at concurrency 1
// and 16; then strata's requests per second at concurrency 32.
//
// The upstream runs in a process of its own, as a model server does, so
// both paths cross the same process boundaries: client to upstream, and
// client to strata to upstream. A third path, interleaved with the two, goes
// through a bare reverse proxy (net/http/httputil, streaming, in a process
// of its own): what any extra hop costs on this machine, so the report can
// tell strata's own cost from the hop's. -upstream-in-process puts it in the
// client's process instead, which makes the direct path cheaper than any
// real deployment's (no wake-up of another process between request and
// reply) and so inflates the difference.
//
// -baseline DIR builds a second strata from another source tree (a git
// worktree of an earlier commit) and interleaves it as a fourth path, so a
// change is measured against its baseline in one run, under the same load.
//
//	go run ./bench/pipeline [-n 2000] [-duration 5s] [-upstream-in-process] [-baseline DIR] [-strata-env K=V,...]
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
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
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
	baseline := flag.String("baseline", "", "a second source tree of strata (a git worktree of an earlier commit) whose build is measured interleaved with this tree's")
	envFlag := flag.String("strata-env", "", "comma-separated KEY=VALUE settings for this tree's strata only (GOMAXPROCS=1, GOGC=400, ...)")
	serveProxy := flag.String("serve-proxy", "", "internal: serve a bare reverse proxy to this URL, print its URL, and wait for stdin to close")
	flag.Parse()
	if *serveProxy != "" {
		if err := runProxy(*serveProxy); err != nil {
			fmt.Fprintln(os.Stderr, "pipeline proxy:", err)
			os.Exit(1)
		}
		return
	}
	if *serveUpstream {
		up := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{Model: "up", Reply: []string{"ok"}})
		fmt.Println(up.BaseURL())
		io.Copy(io.Discard, os.Stdin)
		up.Close()
		return
	}
	var strataEnv []string
	if *envFlag != "" {
		strataEnv = strings.Split(*envFlag, ",")
	}
	if err := run(*n, *dur, *inProcess, *baseline, strataEnv); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

func run(n int, dur time.Duration, inProcess bool, baseline string, strataEnv []string) error {
	ctx := context.Background()
	upURL, _, stop, err := startUpstream(inProcess)
	if err != nil {
		return err
	}
	defer stop()
	proxyURL, proxyPID, stopProxy, err := startChild("-serve-proxy", upURL)
	if err != nil {
		return err
	}
	defer stopProxy()
	work, err := os.MkdirTemp("", "strata-pipeline-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	st, err := startStrata(ctx, ".", filepath.Join(work, "new"), upURL, strataEnv)
	if err != nil {
		return err
	}
	defer st.stop()
	var base *strataProc
	if baseline != "" {
		if base, err = startStrata(ctx, baseline, filepath.Join(work, "base"), upURL, nil); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		defer base.stop()
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	// What strata sends the upstream for a non-streaming InvokeModel: a
	// completion asked for whole (before 2026-11-22's fourth session strata
	// asked for a stream, and so did this direct path).
	directBody := []byte(`{"model":"up","prompt":"hello","max_tokens":1,"temperature":0,"stream":false}`)
	strataBody := []byte(`{"prompt":"hello","max_tokens":1}`)
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
	viaProxy := func() (time.Duration, error) { return do(proxyURL+"/completions", directBody, nil) }
	via := func(p *strataProc) func() (time.Duration, error) {
		return func() (time.Duration, error) { return do(p.endpoint+"/model/up/invoke", strataBody, p.signed) }
	}
	viaStrata := via(st)
	paths := []func() (time.Duration, error){direct, viaProxy, viaStrata}
	if base != nil {
		paths = append(paths, via(base))
	}
	// Warm up every path.
	for range 200 {
		for _, p := range paths {
			if _, err := p(); err != nil {
				return err
			}
		}
	}
	where := "in a process of its own"
	if inProcess {
		where = "in the client's process"
	}
	fmt.Printf("added latency of strata's pipeline (SigV4, guard in and out, metrics, audit) over the same loopback upstream (%s)\n", where)
	for _, c := range []int{1, 16} {
		var mu sync.Mutex
		lat := make([][]time.Duration, len(paths))
		var wg sync.WaitGroup
		var failed atomic.Value
		per := n / c
		cpu0 := [2]time.Duration{cpuTime(st.pid), cpuTime(proxyPID)}
		var cpuBase time.Duration
		if base != nil {
			cpuBase = cpuTime(base.pid)
		}
		for range c {
			wg.Go(func() {
				got := make([]time.Duration, len(paths))
				for i := range per {
					// Rotate the order, so no path always runs first.
					for k := range paths {
						j := (i + k) % len(paths)
						d, err := paths[j]()
						if err != nil {
							failed.Store(err)
							return
						}
						got[j] = d
					}
					mu.Lock()
					for j := range paths {
						lat[j] = append(lat[j], got[j])
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			return err
		}
		md, mp, ms := median(lat[0]), median(lat[1]), median(lat[2])
		fmt.Printf("  concurrency %2d: direct median %7.3f ms, via strata %7.3f ms, added %6.3f ms  (p90 direct %.3f, strata %.3f; %d triples)\n",
			c, ms2(md), ms2(ms), ms2(ms-md), ms2(pct(lat[0], 90)), ms2(pct(lat[2], 90)), len(lat[0]))
		fmt.Printf("                  a bare reverse proxy adds %6.3f ms (median %.3f ms); strata adds %6.3f ms more than it\n",
			ms2(mp-md), ms2(mp), ms2(ms-mp))
		reqs := time.Duration(len(lat[0]))
		fmt.Printf("                  CPU per request: strata %.1f µs, bare proxy %.1f µs (all threads, from /proc)\n",
			float64((cpuTime(st.pid)-cpu0[0])/reqs)/1e3, float64((cpuTime(proxyPID)-cpu0[1])/reqs)/1e3)
		if base != nil {
			mb := median(lat[3])
			fmt.Printf("                  baseline strata (%s) adds %6.3f ms (median %.3f ms); this tree adds %6.3f ms more than it, CPU per request %.1f µs\n",
				baseline, ms2(mb-md), ms2(mb), ms2(ms-mb), float64((cpuTime(base.pid)-cpuBase)/reqs)/1e3)
		}
	}
	for _, c := range []int{32} {
		for _, side := range []struct {
			name string
			fn   func() (time.Duration, error)
		}{{"direct upstream", direct}, {"via strata", viaStrata}, {"via the baseline strata", nil}} {
			if side.fn == nil {
				if base == nil {
					continue
				}
				side.fn = via(base)
			}
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

// strataProc is a running strata, built from one source tree.
type strataProc struct {
	endpoint string
	pid      int
	signed   http.Header // the headers of one signed InvokeModel, replayed
	stop     func()
}

// startStrata builds strata from the source tree at dir, starts it with its
// data under work and the upstream as its engine, and signs one request.
func startStrata(ctx context.Context, dir, work, upURL string, env []string) (*strataProc, error) {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, err
	}
	bin := filepath.Join(work, "strata")
	// By import path: it names the tree's own package from anywhere in it.
	build := exec.Command("go", "build", "-o", bin, "strata/cmd/strata")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(work, "strata.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`log: {level: warn}
quotas: {requests_per_minute: 0, tokens_per_minute: 0}
engines:
  - {name: up, type: openai, url: %q, model: up, estimate_tokens: true, probe_interval: 0s, retries: 0}
`, upURL)), 0o600)
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(work, "data"), "--listen", "127.0.0.1:0", "--config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
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
		stop()
		return nil, fmt.Errorf("strata did not start")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(work, "data", "credentials")}))
	if err != nil {
		stop()
		return nil, err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		stop()
		return nil, err
	}
	body := []byte(`{"prompt":"hello","max_tokens":1}`)
	sum := sha256.Sum256(body)
	// Its signature stays valid for minutes, so the client spends no CPU
	// signing during the measurement.
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/model/up/invoke", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bedrock", "us-east-1", time.Now())
	return &strataProc{endpoint: endpoint, pid: cmd.Process.Pid, signed: req.Header, stop: stop}, nil
}

// startUpstream starts the loopback upstream, in this process or in a
// child running this program with -serve-upstream, and returns its base URL.
func startUpstream(inProcess bool) (string, int, func(), error) {
	if inProcess {
		up := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{Model: "up", Reply: []string{"ok"}})
		return up.BaseURL(), os.Getpid(), up.Close, nil
	}
	return startChild("-serve-upstream")
}

// startChild runs this program with args, reads the URL it prints, and
// returns it with the child's pid and a function that stops the child (by
// closing its stdin).
func startChild(args ...string) (string, int, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(self, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() { stdin.Close(); cmd.Wait() }
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("%s: %w", args[0], err)
	}
	return strings.TrimSpace(url), cmd.Process.Pid, stop, nil
}

// runProxy serves a streaming reverse proxy to target on loopback, prints
// its base URL, and returns when stdin closes.
func runProxy(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // pass each streamed chunk on at once
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, rp)
	// The proxy adds the target's path (/v1) to each request's.
	fmt.Printf("http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	return ln.Close()
}

// cpuTime is the CPU time process pid has used, summed over its threads
// (/proc/PID/task/TID/schedstat, nanoseconds); 0 where /proc is missing.
func cpuTime(pid int) time.Duration {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		var ns int64
		fmt.Sscan(string(b), &ns)
		sum += time.Duration(ns)
	}
	return sum
}

func median(xs []time.Duration) time.Duration { return pct(xs, 50) }

func pct(xs []time.Duration, p int) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)*p/100]
}

func ms2(d time.Duration) float64 { return float64(d) / 1e6 }
