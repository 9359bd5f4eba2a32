#!/bin/sh
# Side-by-side decode speed of strata's engine and llama2.c's run.c on
# identical random weights at the stories15M and stories110M shapes.
#
# usage: bench/engine/run.sh RUN [RUN_OMP] [ROUNDS]
#
#   RUN      path to a run.c binary built single-threaded
#            (gcc -Ofast -march=native -o run run.c -lm)
#   RUN_OMP  optional path to an OpenMP build for the 2-thread column
#            (gcc -Ofast -march=native -fopenmp -o runomp run.c -lm)
#   ROUNDS   rounds of interleaved runs (default 3); the report lists each
#
# Run from the repository root. Both programs generate from a short prompt
# at temperature 1 (run.c: -t 1 -p 0 -s 42 -n 256 -i "hello world";
# strata: BenchmarkDecode, 200 tokens) and report generated tokens/s.
set -eu
RUN=${1:?usage: run.sh RUN [RUN_OMP] [ROUNDS]}
RUN_OMP=${2:-}
ROUNDS=${3:-3}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
trap 'exit 1' INT TERM
for shape in 15M 110M; do
	go run ./bench/engine/genmodel -shape "$shape" -out "$DIR/$shape"
done
go test -c -o "$DIR/bench.test" ./bench/engine
runc() { # binary shape threads -> "wall-tok/s cpu-tok/s"
	# run.c reports wall-clock tok/s; /usr/bin/time gives its CPU time for
	# the 256 forward passes (plus loading, which mmap makes small).
	OMP_NUM_THREADS=$3 /usr/bin/time -f 'cpu %U %S' "$1" "$DIR/$2/model.bin" -z "$DIR/$2/tokenizer.bin" \
		-t 1 -p 0 -s 42 -n 256 -i "hello world" 2>&1 >/dev/null |
		awk '/achieved tok\/s/ {w=$3} /^cpu / {c=256/($2+$3)} END {printf "%.1f %.1f", w, c}'
}
ours() { # shape threads -> "wall-tok/s cpu-tok/s"
	# The benchmark generates its own copy of the same spec (same seed).
	(cd bench/engine && "$DIR/bench.test" -test.run '^$' -test.bench "^BenchmarkDecode/$1/threads-$2/f32\$" -test.benchtime 3x) |
		awk '/tok\/s/ {for (i=1; i<NF; i++) {if ($(i+1)=="tok/s") w=$i; if ($(i+1)=="tok/cpu-s") c=$i}} END {printf "%.1f %.1f", w, c}'
}
# Columns: wall-clock tok/s and tok/s of CPU time for each program; the
# ratios are strata over run.c at 1 thread.
printf 'round\tshape\trunc-1T(wall cpu)\tstrata-1T(wall cpu)\tratio(wall cpu)\trunc-2T(wall cpu)\tstrata-2T(wall cpu)\tload\n'
for r in $(seq "$ROUNDS"); do
	for shape in 15M 110M; do
		c1=$(runc "$RUN" "$shape" 1)
		s1=$(ours "$shape" 1)
		c2="- -"
		if [ -n "$RUN_OMP" ]; then c2=$(runc "$RUN_OMP" "$shape" 2); fi
		s2=$(ours "$shape" 2)
		ratio=$(echo "$s1 $c1" | awk '{printf "%.2f %.2f", $1/$3, $2/$4}')
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$shape" "$c1" "$s1" "$ratio" "$c2" "$s2" "$(cut -d' ' -f1 /proc/loadavg)"
	done
done
