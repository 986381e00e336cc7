#!/usr/bin/env bash
# Propagation benchmark (issue 6): change → webhook latency (p50/p99, a test RP that verifies
# every bearer token) and queued-ingest throughput (CIS_STREAM_BYPASS=false, profiles/s until
# /v2/status says integrated) against the direct path in the same run, on a release `cis serve`.
#
#   ci/bench-propagate.sh           (hooked into ci/bench.sh propagate)
#   BENCH_CHANGES=500 BENCH_PROFILES=2000 BENCH_BATCH=100 ci/bench-propagate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "==> cargo build --release -p cis -p cis-e2e --bin cis --bin bench-propagate"
cargo build --release -p cis --bin cis >target/bench-propagate-build.log 2>&1 \
  || { cat target/bench-propagate-build.log; exit 1; }
cargo build --release -p cis-e2e --bin bench-propagate >>target/bench-propagate-build.log 2>&1 \
  || { cat target/bench-propagate-build.log; exit 1; }

CIS_BIN="$PWD/target/release/cis" exec target/release/bench-propagate
