#!/usr/bin/env bash
# Benchmarks that print the figures the issues ask for.
#   ci/bench.sh profile   profile + crypto core per profile, against `openssl speed rsa2048`
#   ci/bench.sh vault     SQLite vault operations, id listings (SQLite and moto)
#   ci/bench.sh change    Change API updates/s over HTTP against `cis serve`, per-stage split
#   ci/bench.sh person    Person API requests/s and p99 over HTTP (wrk), id listings
#   ci/bench.sh propagate change → webhook latency p50/p99, queued-ingest profiles/s vs direct
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
CRITERION_ARGS=(--warm-up-time 1 --measurement-time "${BENCH_SECONDS:-4}")

criterion_table() {
  # Prints "id  per-second  mean" for each criterion estimate under target/criterion/$1.
  python3 - "$@" <<'PY'
import json, os, sys
root = "target/criterion"
for group in sys.argv[1:]:
    base = os.path.join(root, group)
    if not os.path.isdir(base):
        continue
    for name in sorted(os.listdir(base)):
        est = os.path.join(base, name, "new", "estimates.json")
        if os.path.exists(est):
            ns = json.load(open(est))["mean"]["point_estimate"]
            print(f"{group+'/'+name:34s} {1e9/ns:14,.1f} /s   {ns/1e3:12,.1f} µs")
PY
}

bench_profile() {
  echo "==> criterion: cis-profile and cis-crypto (release, one core)"
  cargo bench -p cis-profile --bench profile -- "${CRITERION_ARGS[@]}" >target/bench-profile.log 2>&1 \
    || { cat target/bench-profile.log; exit 1; }
  cargo bench -p cis-crypto --bench crypto -- "${CRITERION_ARGS[@]}" >target/bench-crypto.log 2>&1 \
    || { cat target/bench-crypto.log; exit 1; }
  echo "==> openssl speed rsa2048 (same machine, same run, one core)"
  openssl speed -elapsed -seconds "${OPENSSL_SECONDS:-5}" rsa2048 2>/dev/null | tail -1 | tee target/openssl-speed.txt
  python3 - <<'PY'
import glob, json, os
def est(group, name):
    p = f"target/criterion/{group}/{name}/new/estimates.json"
    return json.load(open(p))["mean"]["point_estimate"] if os.path.exists(p) else None
def signed(v):
    n = 0
    for k, a in v.items():
        if not isinstance(a, dict): continue
        if "signature" in a:
            n += a.get("value", a.get("values")) is not None
        else:
            n += sum(1 for c in a.values() if isinstance(c, dict) and c.get("value", c.get("values")) is not None)
    return n
fixtures = sorted(glob.glob("../shared/reference/profiles/e2e-*.json"))
if fixtures:
    sigs = sum(signed(json.load(open(f))) for f in fixtures) / len(fixtures)
else:
    sigs = float(os.environ.get("SIGS_PER_PROFILE", 40))
parts = open("target/openssl-speed.txt").read().split()
sign_rate, verify_rate = float(parts[-2]), float(parts[-1])
rows = [
    ("validate",         est("profile", "validate"),         5000.0, "≥ 5,000/s"),
    ("filter",           est("profile", "filter"),           50000.0, "≥ 50,000/s"),
    ("check_publishers", est("profile", "check_publishers"), None, ""),
    ("merge",            est("profile", "merge"),            None, ""),
    ("sign_all",         est("crypto", "sign_all"),          0.75 * sign_rate / sigs, "≥ 75% of openssl sign/s ÷ sigs"),
    ("verify_all",       est("crypto", "verify_all"),        0.75 * verify_rate / sigs, "≥ 75% of openssl verify/s ÷ sigs"),
]
print()
print(f"signatures per e2e profile (mean over {len(fixtures)} fixtures): {sigs:.1f}")
print(f"openssl rsa2048 on this machine: {sign_rate:,.0f} sign/s, {verify_rate:,.0f} verify/s")
print(f"  → RSA ceiling per profile: sign-all {sign_rate/sigs:,.1f}/s, verify-all {verify_rate/sigs:,.1f}/s")
print()
print(f"{'per profile':18s} {'profiles/s':>12s} {'target':>12s} {'ratio':>8s}  {'vs RSA ceiling':>14s}  verdict")
for name, ns, target, label in rows:
    if ns is None:
        print(f"{name:18s} {'(missing)':>12s}"); continue
    rate = 1e9 / ns
    ceiling = ""
    if name == "sign_all": ceiling = f"{rate / (sign_rate/sigs):.0%}"
    if name == "verify_all": ceiling = f"{rate / (verify_rate/sigs):.0%}"
    if target:
        verdict = "PASS" if rate >= target else "MISS"
        print(f"{name:18s} {rate:12,.1f} {target:12,.1f} {rate/target:8.2f}x  {ceiling:>14s}  {verdict}  ({label})")
    else:
        print(f"{name:18s} {rate:12,.1f} {'-':>12s} {'':>8s}  {ceiling:>14s}")
print()
print("Python CIS for scale (same machine class): ~1 sign-all/s, ~60 verify-all/s, ~140 validations/s")
PY
}

bench_vault() {
  echo "==> criterion: SQLite vault"
  cargo bench -p cis-vault-sqlite --bench vault -- "${CRITERION_ARGS[@]}" >target/bench-vault.log 2>&1 \
    || { cat target/bench-vault.log; exit 1; }
  criterion_table vault_sqlite
  echo "==> DynamoDB vault on moto, for the record (CIS_BENCH_USERS=${CIS_BENCH_USERS:-100000})"
  bash crates/cis-vault-dynamodb/bench.sh
}

case "${1:-}" in
  profile) bench_profile ;;
  vault) bench_vault ;;
  change) exec bash ci/bench-change.sh ;;
  person) exec bash ci/bench-person.sh ;;
  propagate) exec bash ci/bench-propagate.sh ;;
  *) echo "usage: ci/bench.sh profile|vault|change|person|propagate" >&2; exit 2 ;;
esac
