#!/bin/bash
# Signals and restarts on the --test directory store:
#  1. data acknowledged by FLUSH or written with FUA survives even SIGKILL,
#     including a write flushed through another connection (multi-conn);
#  2. SIGTERM in the middle of a long nbdcopy write: usbd finishes what is
#     in flight and exits 0; after a restart the flushed data is intact and
#     no block of the interrupted copy is torn (each is all old or all new);
#  3. the same with SIGINT;
#  4. SIGTERM with idle client connections open still exits 0, promptly;
#  5. a stale socket file left by a killed usbd does not stop a new one from
#     starting, while a live usbd's socket is not stolen.
source "$(dirname "$0")/lib.sh"
require_tool nbdcopy nbdinfo nbdkit qemu-io python3 openssl cmp

MIB=$((1024 * 1024))
SIZE=$((256 * MIB))
STORE="$TMP/store"
mkdir "$STORE"

# make_random_file's pipeline ends with openssl killed by SIGPIPE, which
# pipefail turns into a failure: accept it when the file is complete.
random_file() {  # FILE SIZE SEED
  make_random_file "$@" || true
  [ "$(stat -c %s "$1")" -eq "$2" ] || fail "could not create $1"
}

# signal_usbd SIGNAL: sends it and expects exit status 0 within 30 s.
signal_usbd() {
  local sig=$1 i status=0
  kill -"$sig" "$USBD_PID"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$USBD_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$USBD_PID" 2>/dev/null &&
    fail "usbd still running 30 s after SIG$sig"
  wait "$USBD_PID" || status=$?
  USBD_PID=
  [ $status -eq 0 ] || fail "usbd exited with status $status after SIG$sig"
}

kill_usbd() {  # SIGKILL, no questions asked
  kill -KILL "$USBD_PID"
  wait "$USBD_PID" 2>/dev/null || true
  USBD_PID=
}

dump() {  # FILE: the whole volume
  rm -f "$1"
  nbdcopy "$URI" "$1" || fail "nbdcopy of the volume failed"
}

# expect_range DUMP OFFSET_MIB LENGTH_BYTES EXPECTED_FILE WHAT
expect_range() {
  cmp <(dd if="$1" bs=1M skip="$2" status=none | head -c "$3") "$4" ||
    fail "$5"
}

# Copies FILE into the start of the volume at about 20 MB/s (nbdkit's rate
# filter), in 256 KiB block-aligned requests, several in flight, so that the
# copy is still running when the signal arrives.
slow_copy() {  # FILE
  nbdkit -U - --filter=rate file "$1" rate=160M \
    --run "nbdcopy --connections=1 --request-size=262144 --requests=8 \"\$uri\" \"$URI\""
}

# Every 256 KiB block of DUMP's first LEN bytes is either all NEW's or all
# zero (never written): each request of slow_copy covers exactly one block,
# so a block half old and half new is a write cut in half by the shutdown.
check_not_torn() {  # DUMP NEW LEN
  python3 - "$1" "$2" "$3" <<'EOF' || fail "torn blocks after a signal"
import sys
dump, new, length = sys.argv[1], sys.argv[2], int(sys.argv[3])
bs = 256 * 1024
zero = bytes(bs)
written = torn = 0
with open(dump, "rb") as d, open(new, "rb") as n:
    for off in range(0, length, bs):
        a, b = d.read(bs), n.read(bs)
        if a == b:
            written += 1
        elif a != zero:
            torn += 1
            print(f"torn block at {off}", file=sys.stderr)
print(f"{written} of {length // bs} blocks written before the signal",
      file=sys.stderr)
sys.exit(1 if torn else 0)
EOF
}

random_file "$TMP/flushed.bin" $((32 * MIB)) 1
random_file "$TMP/stream.bin" $((128 * MIB)) 2
# A python3 with libnbd's bindings (those nbdsh uses) for the multi-conn
# check; a python3 from pyenv or a venv usually has not got them.
PYTHON_NBD=
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import nbd' 2>/dev/null; then
    PYTHON_NBD=$py
    break
  fi
done

# --- 1. FLUSH and FUA are durable, even across SIGKILL -----------------------
start_usbd --test --size=$SIZE "$STORE"
# Flushed data goes to [128 MiB, 160 MiB), out of the way of the streams.
qemu-io -f raw -c "write -s $TMP/flushed.bin 128M 32M" -c flush "$URI" \
  >/dev/null || fail "qemu-io write + flush failed"
qemu-io -f raw -c "write -f -P 0x5a 200M 1M" "$URI" >/dev/null ||
  fail "qemu-io FUA write failed"
qemu-io -f raw -c "write -f -P 0x6b $((210 * MIB + 7)) 1000" "$URI" >/dev/null ||
  fail "qemu-io unaligned FUA write failed"
# CAN_MULTI_CONN: a FLUSH on one connection covers writes completed on
# another. The writing connection stays open (no DISC) until the kill.
if [ -n "$PYTHON_NBD" ]; then
  "$PYTHON_NBD" - "$URI" >"$TMP/mc.out" 2>&1 <<'EOF' &
import nbd, sys, time
writer, flusher = nbd.NBD(), nbd.NBD()
writer.connect_uri(sys.argv[1])
flusher.connect_uri(sys.argv[1])
writer.pwrite(b"\x77" * (1 << 20), 220 << 20)
flusher.flush()
print("flushed", flush=True)
time.sleep(60)
EOF
  MC_PID=$!
  on_exit "kill $MC_PID"
  for ((i = 0; i < 100; i++)); do
    grep -q flushed "$TMP/mc.out" && break
    kill -0 $MC_PID 2>/dev/null ||
      fail "multi-conn writer failed: $(cat "$TMP/mc.out")"
    sleep 0.1
  done
  grep -q flushed "$TMP/mc.out" || fail "multi-conn writer did not finish"
fi
kill_usbd
if [ -n "$PYTHON_NBD" ]; then kill $MC_PID 2>/dev/null || true; fi
start_usbd --test --size=$SIZE "$STORE"
dump "$TMP/dump1"
expect_range "$TMP/dump1" 128 $((32 * MIB)) "$TMP/flushed.bin" \
  "flushed data lost after SIGKILL"
head -c $MIB /dev/zero | tr '\0' '\132' >"$TMP/fua.bin"
expect_range "$TMP/dump1" 200 $MIB "$TMP/fua.bin" "FUA write lost after SIGKILL"
cmp <(dd if="$TMP/dump1" bs=1 skip=$((210 * MIB + 7)) count=1000 status=none) \
  <(head -c 1000 /dev/zero | tr '\0' '\153') ||
  fail "unaligned FUA write lost after SIGKILL"
if [ -n "$PYTHON_NBD" ]; then
  expect_range "$TMP/dump1" 220 $MIB <(head -c $MIB /dev/zero | tr '\0' '\167') \
    "a write flushed through another connection was lost after SIGKILL"
else
  echo "note: no python3 with libnbd's nbd module: multi-conn flush not checked" >&2
fi

# --- 2. SIGTERM in the middle of a long write ---------------------------------
slow_copy "$TMP/stream.bin" >"$TMP/copy-term.log" 2>&1 &
COPY_PID=$!
on_exit "kill $COPY_PID"
sleep 1
kill -0 $COPY_PID 2>/dev/null || fail "the copy finished before SIGTERM"
signal_usbd TERM
wait $COPY_PID 2>/dev/null || true  # the copy is cut off: either way is fine
start_usbd --test --size=$SIZE "$STORE"
dump "$TMP/dump2"
check_not_torn "$TMP/dump2" "$TMP/stream.bin" $((128 * MIB))
expect_range "$TMP/dump2" 128 $((32 * MIB)) "$TMP/flushed.bin" \
  "flushed data damaged by SIGTERM"
rm -f "$TMP/dump1" "$TMP/dump2"

# --- 3. SIGINT likewise -------------------------------------------------------
qemu-io -f raw -c "discard 0 128M" "$URI" >/dev/null || fail "discard failed"
slow_copy "$TMP/stream.bin" >"$TMP/copy-int.log" 2>&1 &
COPY_PID=$!
on_exit "kill $COPY_PID"
sleep 1
kill -0 $COPY_PID 2>/dev/null || fail "the copy finished before SIGINT"
signal_usbd INT
wait $COPY_PID 2>/dev/null || true
start_usbd --test --size=$SIZE "$STORE"
dump "$TMP/dump3"
check_not_torn "$TMP/dump3" "$TMP/stream.bin" $((128 * MIB))
expect_range "$TMP/dump3" 128 $((32 * MIB)) "$TMP/flushed.bin" \
  "flushed data damaged by SIGINT"
rm -f "$TMP/dump3"

# --- 4. idle connections do not hold up a shutdown ----------------------------
# One client idle in the handshake, one idle in transmission (an interactive
# qemu-io waiting for commands on a fifo).
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(60)
' "$SOCK" &
IDLE1=$!
on_exit "kill $IDLE1"
mkfifo "$TMP/fifo"
qemu-io -f raw "$URI" <"$TMP/fifo" >/dev/null 2>&1 &
IDLE2=$!
on_exit "kill $IDLE2"
exec 3>"$TMP/fifo"
sleep 0.5
start=$(date +%s)
signal_usbd TERM
elapsed=$(($(date +%s) - start))
[ $elapsed -le 5 ] ||
  fail "usbd took ${elapsed} s to exit with idle clients connected"
exec 3>&-

# --- 5. stale and live sockets --------------------------------------------------
start_usbd --test --size=$SIZE "$STORE"
kill_usbd
[ -S "$SOCK" ] || fail "expected a stale socket file after SIGKILL"
# start_usbd removes the socket first; start by hand to keep it.
"$USBD" -f --listen="unix:$SOCK" --test --size=$SIZE "$STORE" \
  >>"$TMP/usbd.log" 2>&1 &
USBD_PID=$!
for ((i = 0; i < 100; i++)); do
  nbdinfo --size "$URI" >/dev/null 2>&1 && break
  kill -0 "$USBD_PID" 2>/dev/null ||
    fail "usbd refused to start over a stale socket: $(tail -n 3 "$TMP/usbd.log")"
  sleep 0.1
done
[ "$(nbdinfo --size "$URI")" = "$SIZE" ] ||
  fail "usbd started over a stale socket is not serving"
dump "$TMP/dump4"
expect_range "$TMP/dump4" 128 $((32 * MIB)) "$TMP/flushed.bin" \
  "flushed data lost across the restarts"
rm -f "$TMP/dump4"

# A second usbd on the same, live, socket must not take it over.
"$USBD" -f --listen="unix:$SOCK" --memory --size=$((64 * MIB)) other \
  >>"$TMP/usbd2.log" 2>&1 &
SECOND=$!
on_exit "kill -KILL $SECOND"
sleep 1
if kill -0 $SECOND 2>/dev/null; then
  kill -KILL $SECOND
  wait $SECOND 2>/dev/null || true
  [ "$(nbdinfo --size "$URI" 2>/dev/null)" = "$SIZE" ] ||
    fail "a second usbd took over the live socket of the first"
fi
[ "$(nbdinfo --size "$URI" 2>/dev/null)" = "$SIZE" ] ||
  fail "the first usbd no longer answers on its socket"
signal_usbd TERM
echo "PASS: $TEST_NAME"
