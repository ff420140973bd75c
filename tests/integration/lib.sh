# Shared helpers for the integration tests; source it from a bash test.
# Each test drives the real usbd binary ($USBD) with real clients.
set -euo pipefail

: "${USBD:?USBD must point at the usbd binary (make check sets it)}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "/tmp/usbd-$TEST_NAME.XXXXXX")
USBD_PID=
declare -a CLEANUP_CMDS=()

cleanup() {
  local status=$?
  local cmd
  for ((i = ${#CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do
    eval "${CLEANUP_CMDS[$i]}" >/dev/null 2>&1 || true
  done
  if [ -n "$USBD_PID" ] && kill -0 "$USBD_PID" 2>/dev/null; then
    kill -KILL "$USBD_PID" 2>/dev/null || true
  fi
  if [ $status -ne 0 ] && [ $status -ne 77 ] && [ -f "$TMP/usbd.log" ]; then
    echo "--- usbd log ($TMP/usbd.log) ---" >&2
    tail -n 50 "$TMP/usbd.log" >&2
  fi
  rm -rf "$TMP"
  exit $status
}
trap cleanup EXIT

on_exit() { CLEANUP_CMDS+=("$*"); }

fail() {
  echo "FAIL: $TEST_NAME: $*" >&2
  exit 1
}

# Exits 77 (automake's SKIP) when a tool is genuinely missing, loudly.
require_tool() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "SKIP: $TEST_NAME needs '$tool', which is not installed" >&2
      echo "SKIP: install it (see contrib/debian-packages.txt) to run this test" >&2
      exit 77
    fi
  done
}

# start_usbd ARGS...: runs usbd in the foreground on $TMP/usbd.sock, waits
# until it accepts connections, sets USBD_PID, SOCK and URI.
SOCK="$TMP/usbd.sock"
URI="nbd+unix:///?socket=$SOCK"
start_usbd() {
  rm -f "$SOCK"
  "$USBD" -f --listen="unix:$SOCK" "$@" >>"$TMP/usbd.log" 2>&1 &
  USBD_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    if [ -S "$SOCK" ]; then return 0; fi
    if ! kill -0 "$USBD_PID" 2>/dev/null; then
      wait "$USBD_PID" || true
      fail "usbd exited during start: $(tail -n 5 "$TMP/usbd.log")"
    fi
    sleep 0.05
  done
  fail "usbd did not create $SOCK within 10 s"
}

# stop_usbd: SIGTERM, then expects a clean exit 0.
stop_usbd() {
  [ -n "$USBD_PID" ] || return 0
  kill -TERM "$USBD_PID"
  local status=0
  wait "$USBD_PID" || status=$?
  USBD_PID=
  [ $status -eq 0 ] || fail "usbd exited with status $status after SIGTERM"
}

# wait_for_line FILE PATTERN SECONDS: returns 0 once FILE has a line
# matching the grep PATTERN; 1 when $USBD_PID exits or the time is up.
wait_for_line() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$USBD_PID" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# start_named NAME ARGS...: a usbd on $TMP/NAME.sock; sets NAME_PID, NAME_URI.
start_named() {
  local name=$1
  shift
  SOCK="$TMP/$name.sock"
  start_usbd "$@"
  printf -v "${name}_PID" '%s' "$USBD_PID"
  printf -v "${name}_URI" '%s' "nbd+unix:///?socket=$SOCK"
  on_exit "kill -KILL $USBD_PID"
  # The socket exists before the store has started (--listBlocks survey,
  # mount token): wait for the "serving" line so no request of the start
  # meets the faults a test sets next.
  wait_for_line "$TMP/usbd.log" "usbd\[$USBD_PID\]: info: serving " 15 ||
    fail "usbd $* did not log 'serving' (it exited, or not within 15 s)"
}
stop_named() {  # NAME: SIGTERM, expects exit 0
  local var="${1}_PID"
  USBD_PID=${!var}
  stop_usbd
}

# Random test data of SIZE bytes (deterministic per seed).
make_random_file() {  # FILE SIZE_BYTES [SEED]
  local file=$1 size=$2 seed=${3:-1}
  # openssl dies of SIGPIPE when head has enough: that is expected, so the
  # result is judged by the file's size instead of the pipeline's status.
  (openssl enc -aes-128-ctr -pass "pass:usbd-$seed" -nosalt -pbkdf2 \
    </dev/zero 2>/dev/null || true) | head -c "$size" >"$file"
  [ "$(stat -c %s "$file")" -eq "$size" ] || fail "cannot make $file"
}
