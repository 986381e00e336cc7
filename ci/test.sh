#!/usr/bin/env bash
# The README's test command: formatting, lints, and every test of the workspace, including the
# DynamoDB conformance suite and Lambda handler tests against a local moto server.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "moto server (DynamoDB, Kinesis, SSM on 127.0.0.1)"
eval "$(bash ci/moto.sh start)"
trap 'bash ci/moto.sh stop >/dev/null 2>&1 || true' EXIT
export CIS_TEST_DYNAMODB_ENDPOINT="${AWS_ENDPOINT_URL}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cfn-lint infra/template.yaml"
bash ci/cfn-lint.sh

step "build the binaries the e2e and Lambda pipeline tests run"
cargo build -p cis -p cis-fn-processor --locked

step "cargo test"
cargo test --workspace --all-features --locked --no-fail-fast 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}

# One plain closing line so CI can read the totals of all test binaries together.
passed=$(grep -Eo '[0-9]+ passed' target/test-output.log | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' target/test-output.log | awk '{s+=$1} END {print s+0}')
ignored=$(grep -Eo '[0-9]+ ignored' target/test-output.log | awk '{s+=$1} END {print s+0}')
echo
echo "total: ${passed} passed, ${failed} failed, ${ignored} skipped"
exit "$status"
