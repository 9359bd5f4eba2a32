#!/bin/sh
# Router benchmarks and evaluation, as reported in issue 6.
# Usage: bench/router/run.sh [outdir]   (run from the repository root)
# Needs ../shared/data beside the repository. Takes a few minutes of CPU.
# Figures and how they compare with the previous trainer: RESULTS.md.
set -eu
out=${1:-/tmp/strata-router-bench}
shared=$(cd "$(dirname "$0")/../../../shared" && pwd)
b77=$shared/data/banking77
mkdir -p "$out"
# STRATA may name an already built binary.
if [ -z "${STRATA:-}" ]; then
	go build -o "$out/strata" ./cmd/strata
	STRATA=$out/strata
fi

# Routing decision latency and training time.
go test ./internal/router -run '^$' -bench 'Route' -benchtime 200000x | tee "$out/bench-route.txt"
go test ./internal/router -run '^$' -bench 'TrainBanking77' -benchtime 3x | tee "$out/bench-train.txt"

# Train on Banking77's train split less the carved validation split
# (--holdout 0.1 --seed 1, stratified per intent), with an out-of-scope class
# from CLINC150.
"$STRATA" router train --data "$b77/train.csv" --tiers "$b77/complexity_tiers_proposed.csv" \
	--oos "$shared/data/clinc150/data_full.json" --out "$out/router.model"

for r in "$out/router.model" heuristic; do
	name=$(basename "$r" .model)
	"$STRATA" router eval --router "$r" --data "$b77/train.csv" --tiers "$b77/complexity_tiers_proposed.csv" \
		--split val --oos-data "$shared/data/clinc150/data_full.json" --format json > "$out/eval-val-$name.json"
	"$STRATA" router eval --router "$r" --data "$b77/test.csv" --tiers "$b77/complexity_tiers_proposed.csv" \
		--split all --format json > "$out/eval-test-$name.json"
done
for d in gsm8k mmlu; do
	"$STRATA" router eval --replay "$shared/data/routellm_evals" --dataset "$d" > "$out/replay-$d.txt"
done
echo "results in $out"
