#!/usr/bin/env bash
# DynamoDB vault figures on a moto server, called by `ci/bench.sh vault` (which starts moto).
# Prints `vault_dynamodb/load_<N> <seconds>` and `vault_dynamodb/list_ids_<N> <seconds>`.
#   CIS_BENCH_USERS (default 100000), CIS_BENCH_SEGMENTS (default 8), CIS_BENCH_ACTIVE=1 adds
#   the filtered listing (prefix `ad|`, active only).
# moto is a single-threaded Python emulator: the figures show the client's behaviour (complete,
# paginated, projected parallel scan) and moto's speed, not DynamoDB's.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${CIS_TEST_DYNAMODB_ENDPOINT:-${AWS_ENDPOINT_URL:-}}" ]; then
  eval "$(bash ci/moto.sh start)"
  trap 'bash ci/moto.sh stop >/dev/null 2>&1 || true' EXIT
fi
export CIS_BENCH_USERS="${CIS_BENCH_USERS:-100000}"
cargo bench -q -p cis-vault-dynamodb --bench list_ids
