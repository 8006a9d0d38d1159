#!/usr/bin/env bash
# `make run`: the local AWS in the background, the pipeline deployed into it, then the console; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${ECOMMERCE_LOCAL_PORT:-4566}"
CONSOLE_PORT="${CONSOLE_PORT:-8501}"
# Loopback only. Serving a team on the network is a deliberate choice: CONSOLE_ADDRESS=0.0.0.0 (with [auth]).
CONSOLE_ADDRESS="${CONSOLE_ADDRESS:-127.0.0.1}"
STATE_DIR="${STATE_DIR:-.local-aws}"
OPEN_BROWSER="${OPEN_BROWSER:-1}"  # 0: do not open the console in a browser (tests drive their own)
RESET="${RESET:-0}"  # 1: start from an empty state dir (python -m localaws --reset says what it deletes)
reset_flag=()
if [ "$RESET" = 1 ]; then
  reset_flag=(--reset)
  echo "RESET=1: the local AWS deletes its state in $STATE_DIR (data, runs, notifications, credentials)"
fi
mkdir -p "$STATE_DIR"
LOG="$STATE_DIR/local-aws.log"

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped the console and the local AWS"
}
trap cleanup INT TERM EXIT

# The raw buckets accept the browser's presigned uploads from the console's address (CORS).
export ECOMMERCE_CONSOLE_ORIGINS="${ECOMMERCE_CONSOLE_ORIGINS:-http://127.0.0.1:$CONSOLE_PORT,http://localhost:$CONSOLE_PORT}"
# The emails link each run to this console's run monitor.
export ECOMMERCE_CONSOLE_URL="${ECOMMERCE_CONSOLE_URL:-http://127.0.0.1:$CONSOLE_PORT}"
echo "starting the local AWS on port $PORT (log: $LOG) …"
ECOMMERCE_LOCAL_PORT="$PORT" "$PY" -m localaws --port "$PORT" --state-dir "$STATE_DIR" "${reset_flag[@]}" >"$LOG" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q "^local AWS ready at" "$LOG" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "the local AWS failed to start:"; tail -20 "$LOG"; exit 1; }
  sleep 0.5
done
grep -q "^local AWS ready at" "$LOG" || { echo "the local AWS did not report ready within 150 s:"; tail -20 "$LOG"; exit 1; }
grep -- "--reset: deleting" "$LOG" || true
grep "^local AWS ready at" "$LOG"
grep "^ended ABORTED" "$LOG" || true

export ECOMMERCE_TARGET=local ECOMMERCE_ENDPOINT_URL="http://127.0.0.1:$PORT" ECOMMERCE_LOCAL_STATE_DIR="$STATE_DIR"
# The same deployer as for AWS; unchanged resources are left alone, so a restart deploys only what changed.
"$PY" -m deploy up >"$STATE_DIR/deploy.log" 2>&1 || { echo "the deploy failed:"; tail -20 "$STATE_DIR/deploy.log"; exit 1; }
tail -1 "$STATE_DIR/deploy.log"
"$PY" -m streamlit run Home.py --server.headless true --server.address "$CONSOLE_ADDRESS" --server.port "$CONSOLE_PORT" \
  --browser.gatherUsageStats false >"$STATE_DIR/console.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$CONSOLE_PORT/_stcore/health" >/dev/null 2>&1 && break
  sleep 0.5
done
echo
echo "console: http://127.0.0.1:$CONSOLE_PORT   (local AWS: http://127.0.0.1:$PORT) — Ctrl-C stops both"
echo "AWS clients: AWS_SHARED_CREDENTIALS_FILE=$STATE_DIR/credentials AWS_ENDPOINT_URL=http://127.0.0.1:$PORT"
[ "$OPEN_BROWSER" = 1 ] && command -v xdg-open >/dev/null && xdg-open "http://127.0.0.1:$CONSOLE_PORT" >/dev/null 2>&1 || true
wait -n "${pids[@]}"
