#!/usr/bin/env bash
# Builds the five Lambda functions for AWS (runtime provided.al2023) with cargo-lambda, into
# target/lambda/<binary>/bootstrap, where infra/template.yaml's CodeUri points:
#
#   change → cis-fn-change   person → cis-fn-person   webhook-notifier → webhook-notifier
#   processor → processor    curator → curator
#
# Usage: ci/build-functions.sh [arm64|x86-64]   (default arm64, as the template's Architectures;
# change both together). Needs cargo-lambda: `pip install cargo-lambda` (it brings zig, which
# cross-links for Amazon Linux's glibc). Not part of ci/test.sh: a release cross-build of five
# binaries takes many minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-arm64}"
case "$arch" in
  arm64 | x86-64) ;;
  *) echo "usage: $0 [arm64|x86-64] (got '$arch')" >&2; exit 2 ;;
esac
if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "cargo-lambda is not installed; run: pip install cargo-lambda" >&2
  exit 2
fi

packages=(cis-fn-change cis-fn-person cis-fn-webhook-notifier cis-fn-processor cis-fn-curator)
binaries=(cis-fn-change cis-fn-person webhook-notifier processor curator)

args=()
for package in "${packages[@]}"; do args+=(--package "$package"); done
started=$(date +%s)
cargo lambda build --release --locked "--$arch" "${args[@]}"

missing=0
for binary in "${binaries[@]}"; do
  bootstrap="target/lambda/$binary/bootstrap"
  if [[ -x "$bootstrap" ]]; then
    printf '%-40s %8d KiB\n' "$bootstrap" "$(( $(stat -c %s "$bootstrap") / 1024 ))"
  else
    echo "missing: $bootstrap" >&2
    missing=1
  fi
done
echo "built in $(( $(date +%s) - started )) s for $arch; deploy with infra/README.md"
exit "$missing"
