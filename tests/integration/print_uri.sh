#!/bin/bash
# The URI usbd gives and the files it leaves for scripts:
#  1. a socket path with a space: the URI usbd logs and the one
#     --print-uri prints are percent-encoded, and nbdinfo connects with
#     either (it refuses a raw space);
#  2. --print-uri prints the URI on stdout once serving, also detached
#     (`uri=$(usbd --print-uri ...)` then connects at once);
#  3. --pidfile holds the serving usbd's PID (the daemon's, detached) and
#     is removed when it stops; a --pidfile usbd cannot create fails the
#     start before the store is touched.
source "$(dirname "$0")/lib.sh"
require_tool nbdinfo

mkdir "$TMP/a b"
SOCK="$TMP/a b/usbd.sock"
ENCODED="nbd+unix:///vol?socket=$TMP/a%20b/usbd.sock"
PIDFILE="$TMP/usbd.pid"

# 1 and 3, in the foreground: the logged URI, the pid file.
rm -f "$SOCK"
"$USBD" -f --listen="unix:$SOCK" --pidfile="$PIDFILE" --memory --size=16M \
  vol >>"$TMP/usbd.log" 2>&1 &
USBD_PID=$!
wait_for_line "$TMP/usbd.log" "usbd\[$USBD_PID\]: info: serving " 10 ||
  fail "usbd did not log 'serving'"
logged=$(sed -nE 's/.*: info: serving .* at (.*)$/\1/p' "$TMP/usbd.log")
[ "$logged" = "$ENCODED" ] || fail "logged URI '$logged', expected '$ENCODED'"
[ "$(nbdinfo --size "$logged")" = 16777216 ] ||
  fail "nbdinfo cannot use the logged URI"
[ "$(cat "$PIDFILE")" = "$USBD_PID" ] ||
  fail "--pidfile holds '$(cat "$PIDFILE")', not usbd's PID $USBD_PID"
stop_usbd
[ ! -e "$PIDFILE" ] || fail "--pidfile is still there after a clean stop"

# 2 and 3, detached: the URI on stdout, the daemon's PID in the file.
uri=$("$USBD" --print-uri --listen="unix:$SOCK" --pidfile="$PIDFILE" \
  --memory --size=16M vol 2>>"$TMP/usbd.log") ||
  fail "a detached usbd --print-uri failed to start"
[ "$uri" = "$ENCODED" ] || fail "--print-uri printed '$uri', not '$ENCODED'"
[ "$(nbdinfo --size "$uri")" = 16777216 ] ||
  fail "nbdinfo cannot use the printed URI"
pid=$(cat "$PIDFILE")
on_exit "kill -KILL $pid"
[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$USBD")" ] ||
  fail "--pidfile's PID $pid is not a usbd"
kill -TERM "$pid"
for ((i = 0; i < 300; i++)); do
  [ -e "$PIDFILE" ] || break
  sleep 0.1
done
[ ! -e "$PIDFILE" ] || fail "--pidfile not removed within 30 s of SIGTERM"
for ((i = 0; i < 100; i++)); do  # the file goes last but for the exit
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
! kill -0 "$pid" 2>/dev/null || fail "usbd runs on 10 s after its pid file went"

# A pid file in a missing directory: one error line, exit 1, no volume.
status=0
"$USBD" -f --listen="unix:$SOCK" --pidfile="$TMP/missing/usbd.pid" --test \
  --size=16M "$TMP/store" 2>"$TMP/err" || status=$?
[ "$status" -eq 1 ] || fail "--pidfile in a missing directory: exit $status"
grep -q 'error: --pidfile: directory .*missing' "$TMP/err" ||
  fail "unexpected error: $(cat "$TMP/err")"
[ ! -e "$TMP/store" ] || fail "the failed start created the volume"

# --print-uri has no URI to print with --nbd.
status=0
"$USBD" --nbd --print-uri --memory --size=16M vol 2>"$TMP/err" || status=$?
[ "$status" -eq 1 ] && grep -q 'error: --print-uri needs an NBD socket' "$TMP/err" ||
  fail "--nbd --print-uri was not refused: $(cat "$TMP/err")"

echo "PASS: $TEST_NAME"
