#!/bin/sh
# Runs strata's trainer (BenchmarkTrainStep, kernel=fma, the default) and
# torch_step.py interleaved: Go, torch, Go, torch, ... for ROUNDS rounds
# at one shape and thread count, logging the load average before each run.
# Prints the raw lines, then the medians and the ratio torch/Go.
#
# usage: bench/finetune/torch_vs_go.sh SHAPE THREADS ROUNDS GO-BENCHTIME TORCH-WARMUP TORCH-STEPS
#   SHAPE is stories15M or stories260K
# e.g.   bench/finetune/torch_vs_go.sh stories15M 2 3 2x 1 2
#        bench/finetune/torch_vs_go.sh stories260K 2 7 20x 3 10
# PYTHON (default /usr/bin/python3, Debian's python3-torch) selects the
# interpreter.
set -eu
shape=$1 threads=$2 rounds=$3 gotime=$4 warmup=$5 steps=$6
py=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
case $shape in
stories15M) gobench='TrainStep/stories15M-shape/.*/kernel=fma' ;;
stories260K) gobench='TrainStep/stories260K/.*/kernel=fma' ;;
*) echo "unknown shape $shape" >&2; exit 2 ;;
esac
out=$(mktemp)
trap 'rm -f "$out" "$out.test"' EXIT
cd "$here/../../internal/finetune"
go test -c -o "$out.test" . >/dev/null
for r in $(seq "$rounds"); do
	echo "# round $r go,    $(uptime | sed 's/.*load/load/')"
	"$out.test" -test.run XXX -test.bench "$gobench" -test.benchtime "$gotime" -test.cpu "$threads" | grep '^Benchmark' | tee -a "$out"
	echo "# round $r torch, $(uptime | sed 's/.*load/load/')"
	"$py" "$here/torch_step.py" --shape "$shape" --threads "$threads" --warmup "$warmup" --steps "$steps" | tee -a "$out"
done
echo
awk -v shape="$shape" -v threads="$threads" '
/^Benchmark/ { for (i = 3; i < NF; i++) if ($(i+1) == "ns/op") g[++ng] = $i / 1e9 }
/^RESULT torch/ { for (i = 1; i < NF; i++) if ($i == "median") t[++nt] = $(i+1) }
function median(a, n,   i, j, v, tmp) {
	for (i = 1; i <= n; i++) v[i] = a[i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { tmp = v[i]; v[i] = v[j]; v[j] = tmp }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
END {
	mg = median(g, ng); mt = median(t, nt)
	printf "%s threads=%s: go median %.4f s/step (n=%d rounds), torch median %.4f s/step (n=%d rounds), torch/go %.2fx\n", shape, threads, mg, ng, mt, nt, mt / mg
}' "$out"
