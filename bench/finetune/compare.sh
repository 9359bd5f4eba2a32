#!/bin/sh
# Compares the trainer's float32 kernels (internal/finetune BenchmarkTrainStep):
# kernel=scalar (portable scalar Go, as before the SIMD kernels), kernel=vek
# (gemm on vek32.MatMul rows) and kernel=fma (the default: gemm on the
# fma4x16 AVX2/FMA micro-kernel). go test -count repeats each sub-benchmark
# in place, so this script runs ROUNDS separate rounds, each of which runs
# the three kernels one after another: on a shared, loaded machine the
# three see similar conditions. Prints every result, then the per-kernel
# medians and the speed-ups.
#
# usage: bench/finetune/compare.sh [ROUNDS] [BENCH-REGEXP] [BENCHTIME]
# e.g.   bench/finetune/compare.sh 3 TrainStep 1x
#        bench/finetune/compare.sh 5 TrainStep/stories260K 20x
set -eu
rounds=${1:-3}
pattern=${2:-TrainStep}
benchtime=${3:-1x}
cd "$(dirname "$0")/../../internal/finetune"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -c -o "$out.test" . >/dev/null
trap 'rm -f "$out" "$out.test"' EXIT
for r in $(seq "$rounds"); do
	echo "# round $r, $(uptime | sed 's/.*load/load/')" >&2
	"$out.test" -test.run XXX -test.bench "$pattern" -test.benchtime "$benchtime" | grep '^Benchmark' | tee -a "$out"
done
echo
echo "medians over $rounds rounds (s/step, tokens/s, GFLOP/s):"
awk '{
	name = $1; sub(/-[0-9]+$/, "", name)
	kern = name; sub(/.*\/kernel=/, "", kern)
	shape = name; sub(/\/kernel=.*/, "", shape); sub(/^BenchmarkTrainStep\//, "", shape)
	for (i = 3; i < NF; i++) {
		if ($(i+1) == "ns/op") ns = $i
		if ($(i+1) == "GFLOP/s") gf = $i
		if ($(i+1) == "tokens/s") tk = $i
	}
	key = shape SUBSEP kern
	n[key]++; s[key, n[key]] = ns / 1e9; g[key, n[key]] = gf; t[key, n[key]] = tk
	if (!(shape in seen)) { seen[shape] = 1; shapes[++ns_] = shape }
}
function median(arr, key, cnt,   i, j, v, tmp) {
	for (i = 1; i <= cnt; i++) v[i] = arr[key, i]
	for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { tmp = v[i]; v[i] = v[j]; v[j] = tmp }
	return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
}
END {
	for (x = 1; x <= ns_; x++) {
		sh = shapes[x]
		split("scalar vek fma", ks, " ")
		for (y = 1; y <= 3; y++) {
			key = sh SUBSEP ks[y]
			if (!(key in n)) continue
			ms[ks[y]] = median(s, key, n[key])
			printf "  %-32s %-7s %9.3f s/step %9.0f tokens/s %7.2f GFLOP/s (n=%d)\n", sh, ks[y], ms[ks[y]], median(t, key, n[key]), median(g, key, n[key]), n[key]
		}
		if (ms["scalar"] > 0) printf "  %-32s speed-up over scalar: vek %.2fx, fma %.2fx\n", sh, ms["scalar"] / ms["vek"], ms["scalar"] / ms["fma"]
	}
}' "$out"
