#!/usr/bin/env bash
# Start or stop a local moto server (AWS emulator) for the DynamoDB tests and benchmarks.
#
#   eval "$(ci/moto.sh start)"   # installs moto[server] if missing, starts it, prints `export` lines
#   ci/moto.sh env               # prints the `export` lines only
#   ci/moto.sh stop              # stops the server started by `start`
#
# Port: MOTO_PORT (default 5000); interpreter: MOTO_PYTHON (default python3). Everything except the `export` lines goes to stderr, so the
# output of `start` can be eval'ed.
set -euo pipefail

MOTO_VERSION="${MOTO_VERSION:-5.2.1}"
MOTO_PORT="${MOTO_PORT:-5000}"
MOTO_HOST=127.0.0.1
STATE_DIR="${MOTO_STATE_DIR:-${TMPDIR:-/tmp}}"
PID_FILE="$STATE_DIR/cis-moto-$MOTO_PORT.pid"
LOG_FILE="$STATE_DIR/cis-moto-$MOTO_PORT.log"
URL="http://$MOTO_HOST:$MOTO_PORT"
PYTHON="${MOTO_PYTHON:-python3}"

log() { echo "moto.sh: $*" >&2; }

print_env() {
    # Dummy credentials only: moto accepts anything, and real ones must never reach it.
    cat <<EOF
export AWS_ENDPOINT_URL=$URL
export CIS_TEST_DYNAMODB_ENDPOINT=$URL
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_SESSION_TOKEN=testing
export AWS_REGION=us-west-2
export AWS_DEFAULT_REGION=us-west-2
EOF
}

answers() {
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null --max-time 2 "$URL/moto-api/" 2>/dev/null
    else
        python3 - "$URL" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2)
PY
    fi
}

running_pid() {
    if [[ -f "$PID_FILE" ]]; then
        local pid
        pid="$(cat "$PID_FILE")"
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            echo "$pid"
            return 0
        fi
    fi
    return 1
}

ensure_installed() {
    if "$PYTHON" -c "import moto.moto_server.werkzeug_app, werkzeug, flask" >/dev/null 2>&1; then
        return 0
    fi
    log "installing moto[server]==$MOTO_VERSION with pip"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
    if ! "$PYTHON" -c "import moto.moto_server.werkzeug_app, werkzeug, flask" >/dev/null 2>&1; then
        log "moto[server] is still not importable by $PYTHON after pip install"
        exit 1
    fi
}

start() {
    if pid="$(running_pid)"; then
        log "already running (pid $pid) on $URL"
        print_env
        return 0
    fi
    if answers; then
        log "something already answers on $URL (not started by this script); using it"
        print_env
        return 0
    fi
    ensure_installed
    mkdir -p "$STATE_DIR"
    # moto_server serves requests on threads, and moto's DynamoDB checks a ConditionExpression
    # and writes without a lock, so two concurrent conditional updates can both win. DynamoDB
    # applies them atomically, and the vault's concurrency tests (DECISIONS B5) rely on that, so
    # the same app is served one request at a time (werkzeug then also closes each connection,
    # so no client can hold the server). MOTO_THREADED=1 restores moto_server's threading.
    local threaded=False
    [[ "${MOTO_THREADED:-0}" == 1 ]] && threaded=True
    # setsid: the server must outlive the shell that started it and not get its signals.
    MOTO_PORT="$MOTO_PORT" setsid "$PYTHON" -c "
import sys
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple
app = DomainDispatcherApplication(create_backend_app)
run_simple(sys.argv[1], int(sys.argv[2]), app, threaded=$threaded)
" "$MOTO_HOST" "$MOTO_PORT" >"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 100); do
        if answers; then
            log "moto $("$PYTHON" -c 'import moto; print(moto.__version__)' 2>/dev/null) up on $URL (pid $(cat "$PID_FILE"), log $LOG_FILE)"
            print_env
            return 0
        fi
        if ! running_pid >/dev/null; then
            log "moto_server exited during start-up; log follows"
            cat "$LOG_FILE" >&2
            rm -f "$PID_FILE"
            exit 1
        fi
        sleep 0.2
    done
    log "moto_server did not answer on $URL within 20 s; log follows"
    cat "$LOG_FILE" >&2
    stop
    exit 1
}

stop() {
    if pid="$(running_pid)"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        log "stopped moto_server (pid $pid)"
    else
        log "no moto_server started by this script on port $MOTO_PORT"
    fi
    rm -f "$PID_FILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) print_env ;;
    *)
        echo "usage: $0 start|stop|env   (MOTO_PORT, default 5000)" >&2
        exit 2
        ;;
esac
