#!/bin/sh
# Benchmarks of the guard's scanners on a realistic support-chat corpus
# (banking77 + bitext + ABCD from ../shared/data, with test card numbers in
# about one message in 25), side by side with a Go regexp implementation
# of the same rules.
#
#   bench/guard/run.sh            # 3 runs of each
#   COUNT=10 bench/guard/run.sh   # more runs, e.g. for benchstat
#
# Besides ns/op and wall-clock MB/s, each benchmark reports cpu-MB/s and
# cpu-ns/op: throughput per CPU-second of the benchmark's own thread, which
# stays meaningful on a shared machine where other jobs steal the cores.
set -eu
cd "$(dirname "$0")/../.."
COUNT=${COUNT:-3}
echo "# $(date -u +%FT%TZ) $(go version) load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)"
go test -run '^$' -bench 'Scan|Prompt2KB|Stream' -benchmem -count "$COUNT" ./internal/guard/
go test -run '^$' -bench 'Score' -benchmem -count "$COUNT" ./internal/guard/attack/
