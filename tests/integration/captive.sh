#!/bin/bash
# usbd tied to another process, as nbdkit-captive(1):
#  1. --run 'nbdinfo "$uri"': nbdinfo reaches the export, and usbd exits
#     with nbdinfo's status (0, and 2 for `nbdinfo --is read-only` of a
#     writable export) or the command's (exit 7);
#  2. the command finds $uri, $nbd, $unixsocket or $port, $exportname;
#  3. when the command exits, usbd flushes: a write held in the cache
#     (uploads delayed an hour) is in the store once usbd has exited;
#  4. SIGTERM while the command runs stops usbd (status 0) without waiting
#     for the command;
#  5. --exit-with-parent: SIGKILL of the process that started usbd stops
#     usbd, which flushes its cache to the store and exits.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_tool nbdinfo nbdcopy cmp openssl

SOCK="$TMP/usbd.sock"
STORE="$TMP/store"
HOLD=(--blockCacheFile="$TMP/cache" --blockCacheSize=64
      --blockCacheWriteDelay=3600000)  # written blocks stay in the cache

run_usbd() {  # ARGS...: usbd --run in the foreground of the test; sets RC
  RC=0
  "$USBD" --listen="unix:$SOCK" "$@" >"$TMP/out" 2>>"$TMP/usbd.log" || RC=$?
}

# 1. nbdinfo's output and status.
run_usbd --memory --size=16M --run 'nbdinfo "$uri"' vol
[ "$RC" -eq 0 ] || fail "--run 'nbdinfo \"\$uri\"' exited $RC"
grep -q 'export-size: 16777216' "$TMP/out" ||
  fail "nbdinfo did not describe the export: $(cat "$TMP/out")"
run_usbd --memory --size=16M --run 'nbdinfo --is read-only "$uri"' vol
[ "$RC" -eq 2 ] || fail "nbdinfo --is read-only of a writable export: $RC, not 2"
run_usbd --memory --size=16M --readOnly --run 'nbdinfo --is read-only "$uri"' vol
[ "$RC" -eq 0 ] || fail "nbdinfo --is read-only of --readOnly: $RC, not 0"
run_usbd --memory --size=16M --run 'nbdinfo --size "$uri" && exit 7' vol
[ "$RC" -eq 7 ] || fail "--run '... exit 7' made usbd exit $RC"
grep -q 'info: --run: the command exited with status 7' "$TMP/usbd.log" ||
  fail "the command's status is not logged"

# 2. The variables, over a unix socket and over TCP.
run_usbd --memory --size=16M --run '
  test "$nbd" = "$uri" && test "$unixsocket" = "'"$SOCK"'" &&
  test -z "$port" && test "$exportname" = b/vol &&
  test "$uri" = "nbd+unix:///b/vol?socket=$unixsocket"' b/vol
[ "$RC" -eq 0 ] || fail "wrong --run variables on a unix socket"
port=$(free_port)
RC=0
"$USBD" --listen="tcp:127.0.0.1:$port" --memory --size=16M --run '
  test "$port" = '"$port"' && test -z "$unixsocket" &&
  test "$uri" = "nbd://127.0.0.1:$port/vol" && nbdinfo --size "$uri"' \
  vol >"$TMP/out" 2>>"$TMP/usbd.log" || RC=$?
[ "$RC" -eq 0 ] && [ "$(cat "$TMP/out")" = 16777216 ] ||
  fail "wrong --run variables over TCP (status $RC)"

# 3. The command's writes are in the store when usbd has exited.
make_random_file "$TMP/data" $((4 * 1024 * 1024))
run_usbd --test --size=16M "${HOLD[@]}" --run 'nbdcopy "'"$TMP/data"'" "$uri"' \
  "$STORE"
[ "$RC" -eq 0 ] || fail "--run nbdcopy exited $RC"
grep -q 'info: stopped; all data flushed' "$TMP/usbd.log" ||
  fail "usbd did not flush after the command"
run_usbd --test --run 'nbdcopy "$uri" "'"$TMP/back"'"' "$STORE"
[ "$RC" -eq 0 ] || fail "reading the store back exited $RC"
cmp <(head -c $((4 * 1024 * 1024)) "$TMP/back") "$TMP/data" ||
  fail "the store lacks what the --run command wrote"

# 4. SIGTERM while the command runs: usbd stops and exits 0 at once.
rm -f "$SOCK"
"$USBD" --listen="unix:$SOCK" --memory --size=16M \
  --run 'echo $$ >"'"$TMP/command.pid"'"; exec sleep 60' vol \
  2>>"$TMP/usbd.log" &
USBD_PID=$!
wait_for_line "$TMP/usbd.log" "usbd\[$USBD_PID\]: info: serving " 10 ||
  fail "usbd --run sleep did not start"
for ((i = 0; i < 100; i++)); do [ -s "$TMP/command.pid" ] && break; sleep 0.1; done
on_exit "kill -KILL $(cat "$TMP/command.pid")"
stop_usbd
kill -0 "$(cat "$TMP/command.pid")" 2>/dev/null ||
  fail "SIGTERM to usbd also ended its --run command"

# 5. --exit-with-parent: the parent is SIGKILLed while usbd holds dirty
# blocks; usbd uploads them and exits.
rm -rf "$STORE" "$TMP/cache" "$TMP/cache.lmdb" "$SOCK"
# The parent: a shell that starts usbd and waits (USBD TMP SOCK STORE ARGS).
bash -c '"$0" --listen="unix:$2" --exit-with-parent --test --size=16M \
  "${@:4}" "$3" 2>>"$1/usbd.log" & echo $! >"$1/usbd.pid"; wait' \
  "$USBD" "$TMP" "$SOCK" "$STORE" "${HOLD[@]}" &
parent=$!
on_exit "kill -KILL $parent"
for ((i = 0; i < 100; i++)); do [ -s "$TMP/usbd.pid" ] && break; sleep 0.1; done
USBD_PID=$(cat "$TMP/usbd.pid")
on_exit "kill -KILL $USBD_PID"
wait_for_line "$TMP/usbd.log" "usbd\[$USBD_PID\]: info: serving " 10 ||
  fail "usbd --exit-with-parent did not start"
nbdcopy "$TMP/data" "$URI" || fail "nbdcopy to usbd --exit-with-parent failed"
kill -KILL "$parent"
wait "$parent" 2>/dev/null || true
for ((i = 0; i < 300; i++)); do
  kill -0 "$USBD_PID" 2>/dev/null || break
  sleep 0.1
done
! kill -0 "$USBD_PID" 2>/dev/null || fail "usbd runs on 30 s after its parent died"
USBD_PID=
grep -q "usbd\[$(cat "$TMP/usbd.pid")\]: info: stopped; all data flushed" \
  "$TMP/usbd.log" || fail "usbd did not stop cleanly when its parent died"
rm -f "$TMP/back"
run_usbd --test --run 'nbdcopy "$uri" "'"$TMP/back"'"' "$STORE"
cmp <(head -c $((4 * 1024 * 1024)) "$TMP/back") "$TMP/data" ||
  fail "the store lacks what was written before the parent died"

echo "PASS: $TEST_NAME"
