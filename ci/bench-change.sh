#!/usr/bin/env bash
# Change API benchmark: profile updates per second through HTTP against a release `cis serve`
# (SQLite vault, bearer-token auth, signature verification and publisher checks on), and the
# per-stage split of one update as the server reports it (Server-Timing).
#
#   ci/bench-change.sh            (hooked into ci/bench.sh change)
#   BENCH_USERS=200 BENCH_UPDATES=3000 BENCH_CONCURRENCY=8 ci/bench-change.sh
#
# The load client is `cis seed --updates M`: it creates the users and their publisher updates
# first, pre-signs M more one-attribute updates (each by the publisher that owns the attribute,
# a new value every time, so none is a no-op), then sends them CONCURRENCY at a time and counts.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
USERS="${BENCH_USERS:-200}"
UPDATES="${BENCH_UPDATES:-3000}"
CONCURRENCY="${BENCH_CONCURRENCY:-8}"

echo "==> cargo build --release -p cis"
cargo build --release -p cis >target/bench-change-build.log 2>&1 || { cat target/bench-change-build.log; exit 1; }
BIN=target/release/cis

WORK="$(mktemp -d)"
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> cis serve (release, free ports, fresh data dir; log level ${RUST_LOG:-info} to a file)"
RUST_LOG="${RUST_LOG:-info}" "$BIN" serve --data-dir "$WORK/data" \
  --change-port 0 --person-port 0 --issuer-port 0 >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 200); do
  [ -s "$WORK/data/serve.json" ] && grep -q change_url "$WORK/serve.out" 2>/dev/null && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log"; exit 1; }
  sleep 0.1
done

echo "==> cis seed --users $USERS --updates $UPDATES --concurrency $CONCURRENCY"
"$BIN" seed --data-dir "$WORK/data" --users "$USERS" --updates "$UPDATES" \
  --concurrency "$CONCURRENCY" --quiet >target/bench-change.json

python3 - target/bench-change.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
load, creates = r["load"], r["creates"]
print(f"change/creates_per_s {creates['requests_per_s']:.1f}   (seeding {r['users']} users, {creates['failed']} failed)")
print(f"change/updates_per_s {load['updates_per_s']:.1f}   ({load['updated']} updates in {load['seconds']:.2f} s, "
      f"concurrency {load['concurrency']}, {load['failed']} failed, noop {load['noop']})")
lat = load["latency_ms"]
print(f"change/update_latency_ms p50 {lat['p50']:.2f}  p90 {lat['p90']:.2f}  p99 {lat['p99']:.2f}  (client side, HTTP included)")
stages = load["stages_ms"]
total = stages.get("total", 0.0)
print("per-stage split of one update (server side, mean ms):")
for name in ["validate", "read", "merge", "publishers", "signatures", "cis_attributes", "record", "write", "backoff"]:
    ms = stages.get(name, 0.0)
    share = 100 * ms / total if total else 0
    print(f"  {name:15s} {ms:8.3f} ms  {share:5.1f} %")
print(f"  {'total':15s} {total:8.3f} ms   (pipeline; the rest of the latency is auth, HTTP, JSON and queueing)")
target = 300
verdict = "meets" if load["updates_per_s"] >= target else "BELOW"
print(f"target >= {target} updates/s on this machine: {verdict}")
if load["failed"] or creates["failed"]:
    print("errors:", load["errors"], creates["errors"])
    sys.exit(1)
PY
