#!/usr/bin/env bash
# Person API benchmark over loopback against a release `cis serve` (SQLite vault):
#   1. seeds BENCH_USERS users (default 10,000) through the Change API, as publishers do;
#   2. GET /v2/user/user_id/<id> with a typical DinoPark scope set, every request a random seeded
#      user, with wrk as fast as it answers and paced to the target rate of 5,000 requests/s
#      (BENCH_CONNECTIONS connections, BENCH_SECONDS seconds): requests/s, p50 and p99;
#   3. GET /v2/users/id/all over HTTP (all seeded users), timed with curl;
#   4. the id-listing use case over 100,000 users on SQLite (criterion, cis-core `person` bench).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
USERS="${BENCH_USERS:-10000}"
SECONDS_RUN="${BENCH_SECONDS:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
DINOPARK_SCOPES="classification:mozilla_confidential classification:workgroup classification:workgroup:staff_only display:staff display:ndaed display:vouched display:authenticated"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
echo "==> cargo build --release -p cis"
cargo build --release -p cis >target/bench-person-build.log 2>&1 || { cat target/bench-person-build.log; exit 1; }
BIN=target/release/cis

WORK="$(mktemp -d)"
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> cis serve (release, free ports, fresh data dir)"
RUST_LOG="${RUST_LOG:-warn}" "$BIN" serve --data-dir "$WORK/data" \
  --change-port 0 --person-port 0 --issuer-port 0 >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 300); do
  [ -s "$WORK/data/serve.json" ] && grep -q change_url "$WORK/serve.out" 2>/dev/null && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log"; exit 1; }
  sleep 0.1
done
PERSON_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["person_url"])' "$WORK/data/serve.json")

echo "==> cis seed --users $USERS (creates + publisher updates through the Change API)"
start=$(date +%s.%N)
"$BIN" seed --data-dir "$WORK/data" --users "$USERS" --concurrency 8 --quiet >"$WORK/seed.json"
end=$(date +%s.%N)
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('    seeded', r.get('users'), 'users in', round($end-$start,1), 's')" "$WORK/seed.json"

TOKEN=$("$BIN" token --data-dir "$WORK/data" --scopes "$DINOPARK_SCOPES" --raw)

echo "==> GET /v2/users/id/all?connectionMethod=<each login method>&active=Any ($USERS users, over HTTP)"
: >"$WORK/ids.jsonl"
for method in ad github google-oauth2 oauth2 email; do
  curl -sS -o "$WORK/ids-$method.json" \
    -w "    person/ids_all_http connectionMethod=$method %{size_download} bytes %{time_total} s\n" \
    -H "Authorization: Bearer $TOKEN" "$PERSON_URL/v2/users/id/all?connectionMethod=$method&active=Any"
done
python3 - "$WORK" <<'PY'
import glob, json, sys, urllib.parse
ids = []
for path in sorted(glob.glob(sys.argv[1] + "/ids-*.json")):
    body = json.load(open(path))
    assert body.get("nextPage") is None, "id listing must be complete in one response"
    ids += [item["user_id"] for item in body["users"]]
with open(sys.argv[1] + "/ids.txt", "w") as out:
    for user_id in ids:
        out.write(urllib.parse.quote(user_id, safe="") + "\n")
print(f"    {len(ids)} ids listed in total")
PY

cat >"$WORK/get.lua" <<LUA
local ids = {}
for line in io.lines("$WORK/ids.txt") do ids[#ids + 1] = line end
math.randomseed(42)
wrk.headers["Authorization"] = "Bearer $TOKEN"
request = function()
  return wrk.format("GET", "/v2/user/user_id/" .. ids[math.random(#ids)])
end
LUA
# wrk runs ONE thread: on this 2-core machine a second load-generator thread competes with the
# server for the cores and the p99 then measures the scheduler (2 threads: the same requests/s,
# p99 ~20 ms from run-queue waits; 1 thread: p99 ~3 ms).
report() {
python3 - "$1" "$2" <<'PY'
import re, sys
text, name = open(sys.argv[1]).read(), sys.argv[2]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(label):
    m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
p50, p99 = ms("50"), ms("99")
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
print()
print(f"person/{name}_rps {rps:,.0f}   target ≥ 5,000  ratio {rps/5000:.2f}x  {'PASS' if rps >= 5000 else 'MISS'}")
print(f"person/{name}_p50_ms {p50:.2f}")
print(f"person/{name}_p99_ms {p99:.2f}   target ≤ 10 ms  {'PASS' if p99 <= 10 else 'MISS'}")
print(f"non-2xx responses: {non2xx.group(1) if non2xx else 0}")
PY
}

# The first pass meets every profile for the first time (read and prepared, then cached): its
# figures are printed as the cold start; the measured passes run on the warm cache, the steady
# state of a server whose users fit its cache (256 MiB, ~15,000 real profiles).
echo "==> wrk: cold start, every user read for the first time (${SECONDS_RUN}s)"
wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s "$WORK/get.lua" "$PERSON_URL" >"$WORK/wrk-cold.txt"
report "$WORK/wrk-cold.txt" get_user_id_cold_start
# A second pass, not reported: the cache (and the process's memory) reach their steady state
# during it; measured here, runs right after the first still had p99 of 13-26 ms, later ones ~3 ms.
echo "==> wrk: settling pass (${SECONDS_RUN}s, not reported)"
wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s "$WORK/get.lua" "$PERSON_URL" >/dev/null

echo
echo "==> wrk: GET /v2/user/user_id/<random id>, DinoPark scopes, $CONNECTIONS connections, ${SECONDS_RUN}s, as fast as it answers"
wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s "$WORK/get.lua" "$PERSON_URL" | tee "$WORK/wrk.txt"
report "$WORK/wrk.txt" get_user_id

# The same requests paced to the target rate: each connection waits 5 ms between requests
# (32 connections → a bit over 5,000 requests/s): the latency a client sees at that load.
sed 's/^request = function()/delay = function()\n  return 5\nend\nrequest = function()/' \
  "$WORK/get.lua" >"$WORK/paced.lua"
echo
echo "==> wrk: the same at the target rate (each of $CONNECTIONS connections paced by 5 ms), ${SECONDS_RUN}s"
wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s "$WORK/paced.lua" "$PERSON_URL" | tee "$WORK/wrk-paced.txt"
report "$WORK/wrk-paced.txt" get_user_id_at_target_rate
echo "Python Person API for scale: 46-73 requests/s against moto"

echo "==> criterion: /v2/users/id/all use case over 100,000 users on SQLite"
cargo bench -p cis-core --bench person -- --warm-up-time 1 --measurement-time 5 ids_all >target/bench-person-100k.log 2>&1 \
  || { tail -30 target/bench-person-100k.log; exit 1; }
grep -A2 'ids_all' target/bench-person-100k.log | grep -E 'ids_all|time:' | sed 's/^/    /'
