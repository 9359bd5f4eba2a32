// Command importbench measures model import throughput against a baseline
// run side by side: `cp` + `sha256sum` of the same files (what an import
// must at least do: read, hash, write), and the server's peak RSS.
//
//	go run ./bench/importbench [-size 1073741824] [-rounds 3]
//
// It builds strata, generates a random BF16 Mistral model of -size bytes
// into a fresh data directory's embedded bucket, then for each round times
// (a) cp -r of the folder to a scratch directory followed by sha256sum of
// every file, and (b) a CreateModelImportJob through the Bedrock API (Go
// SDK) until the job completes, alternating the order each round. It
// prints MB/s for both, their ratio, and the server's VmHWM (peak RSS).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"strata/internal/modelgen"
)

func main() {
	size := flag.Int64("size", 1<<30, "model size in bytes")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	keep := flag.Bool("keep", false, "keep the scratch directory")
	flag.Parse()
	if err := run(*size, *rounds, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "importbench:", err)
		os.Exit(1)
	}
}

func run(size int64, rounds int, keep bool) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "strata-importbench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	}
	bin := filepath.Join(work, "strata")
	if out, err := exec.Command("go", "build", "-o", bin, "strata/cmd/strata").CombinedOutput(); err != nil {
		return fmt.Errorf("building strata: %v\n%s", err, out)
	}
	dataDir := filepath.Join(work, "data")
	src := filepath.Join(dataDir, "buckets", "bench", "model")
	t0 := time.Now()
	if err := modelgen.Generate(src, modelgen.SizedMistral(size)); err != nil {
		return err
	}
	total := dirSize(src)
	fmt.Printf("generated %.1f MiB in %s\n", float64(total)/(1<<20), time.Since(t0).Round(time.Millisecond))

	cmd := exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	endpoint := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if ep, ok := strings.CutPrefix(sc.Text(), "strata is serving on "); ok {
			endpoint = ep
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if endpoint == "" {
		return fmt.Errorf("server did not start")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(dataDir, "credentials")}),
		awsconfig.WithBaseEndpoint(endpoint))
	if err != nil {
		return err
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return err
	}
	role := "arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockModelImportRole"
	client := bedrock.NewFromConfig(cfg)

	var base, imp []float64
	for r := range rounds {
		steps := []func() error{
			func() error {
				d, err := baseline(src, filepath.Join(work, "copy"))
				base = append(base, float64(total)/d.Seconds()/1e6)
				return err
			},
			func() error {
				d, err := importOnce(ctx, client, role, fmt.Sprintf("bench-%d", r))
				imp = append(imp, float64(total)/d.Seconds()/1e6)
				return err
			},
		}
		if r%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		fmt.Printf("round %d: baseline %.0f MB/s, strata import %.0f MB/s\n", r+1, base[len(base)-1], imp[len(imp)-1])
	}
	hwm := peakRSS(cmd.Process.Pid)
	mb, mi := median(base), median(imp)
	fmt.Printf("\nmodel %.1f MiB, %d rounds (medians)\n", float64(total)/(1<<20), rounds)
	fmt.Printf("  cp + sha256sum:  %6.0f MB/s\n", mb)
	fmt.Printf("  strata import:   %6.0f MB/s  (hash + AES-256-GCM + atomic write)\n", mi)
	fmt.Printf("  ratio:           %6.2fx  (goal >= 0.80x)\n", mi/mb)
	fmt.Printf("  server peak RSS: %6.1f MB (goal < 100 MB)\n", float64(hwm)/1e6)
	return nil
}

func baseline(src, dst string) (time.Duration, error) {
	os.RemoveAll(dst)
	exec.Command("sync").Run()
	t := time.Now()
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("cp: %v %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dst, "*"))
	args := append([]string{}, files...)
	if out, err := exec.Command("sha256sum", args...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("sha256sum: %v %s", err, out)
	}
	exec.Command("sync").Run()
	d := time.Since(t)
	os.RemoveAll(dst)
	return d, nil
}

func importOnce(ctx context.Context, c *bedrock.Client, role, name string) (time.Duration, error) {
	exec.Command("sync").Run()
	t := time.Now()
	out, err := c.CreateModelImportJob(ctx, &bedrock.CreateModelImportJobInput{
		JobName: aws.String(name), ImportedModelName: aws.String(name), RoleArn: aws.String(role),
		ModelDataSource: &types.ModelDataSourceMemberS3DataSource{Value: types.S3DataSource{S3Uri: aws.String("s3://bench/model/")}},
	})
	if err != nil {
		return 0, err
	}
	for {
		job, err := c.GetModelImportJob(ctx, &bedrock.GetModelImportJobInput{JobIdentifier: out.JobArn})
		if err != nil {
			return 0, err
		}
		switch job.Status {
		case types.ModelImportJobStatusCompleted:
			exec.Command("sync").Run()
			d := time.Since(t)
			_, err := c.DeleteImportedModel(ctx, &bedrock.DeleteImportedModelInput{ModelIdentifier: aws.String(name)})
			return d, err
		case types.ModelImportJobStatusFailed:
			return 0, fmt.Errorf("import failed: %s", aws.ToString(job.FailureMessage))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb * 1024
		}
	}
	return 0
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
