#!/bin/bash
# No start drops flushed data silently (usbd(8), CRASH RECOVERY), with the
# real usbd, cache surgery between kill -9 and restart, and NBD clients;
# over the local directory store and over a plain HTTP store (nginx):
#  a. Blocks flushed but not uploaded (a write-back delay of an hour), then
#     kill -9 and the index CACHE.lmdb deleted, or emptied: the start is
#     refused with exit status 1, naming how many blocks would be lost and
#     --blockCacheDiscardDirty. With the index put back, every flushed block
#     reads back. With --blockCacheDiscardDirty, usbd starts, logs how many
#     blocks it dropped, and serves the store's (older) versions.
#  b. kill -9 with dirty blocks and one dirty slot's bytes damaged in the
#     cache file: that block reads as EIO over NBD (never the store's older
#     version), a partial write to it fails with EIO, the others read back;
#     it stays EIO after a kill -9 restart and after a clean stop and start;
#     a whole-block write makes it readable again, for good.
# SKIP (77) only when nbdsh (python3 libnbd) or nbdcopy is missing; the HTTP
# part is skipped, with a note, when nginx is missing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_tool nbdcopy openssl cmp python3 timeout
require_nbd_py

BS=65536
SIZE=$((64 * BS))
make_random_file "$TMP/v1.raw" $SIZE 11
make_random_file "$TMP/v2.raw" $SIZE 12

# nbd_blocks URI write|read FILE FIRST COUNT: whole blocks FIRST.. of FILE
# written then flushed, or read and compared; prints ok, mismatch BLOCK, or
# the errno's name.
nbd_blocks() {
  timeout 60 "$NBD_PY" - "$BS" "$@" <<'PY' || echo "nbd_blocks-failed-$?"
import nbd, sys
bs, uri, op, src = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
first, count = int(sys.argv[5]), int(sys.argv[6])
data = open(src, "rb").read()
h = nbd.NBD()
h.connect_uri(uri)
try:
    result = "ok"
    for b in range(first, first + count):
        want = data[b * bs:(b + 1) * bs]
        if op == "write":
            h.pwrite(want, b * bs)
        elif h.pread(bs, b * bs) != want:
            result = "mismatch %d" % b
            break
    if op == "write":
        h.flush()
    print(result)
except nbd.Error as e:
    sys.stderr.write("nbd_blocks %s %d+%d: %s\n" % (op, first, count, e))
    print(e.errno or "error")
h.shutdown()
PY
}
expect_blocks() {  # WANT URI OP FILE FIRST COUNT
  local want=$1 got
  shift
  got=$(nbd_blocks "$@")
  [ "$got" = "$want" ] || fail "$STORE: $2 of blocks $4..$(($4 + $5 - 1)) from $3: expected $want, got '$got'"
}

# damage_slot CACHE FILE BLOCK: finds the slot holding BLOCK's content of
# FILE in the cache file and overwrites 100 bytes of it; exactly one slot
# must hold it.
damage_slot() {
  python3 - "$BS" "$@" <<'PY'
import sys
bs, cache, src, block = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
want = open(src, "rb").read()[block * bs:(block + 1) * bs]
with open(cache, "r+b") as f:
    raw = f.read()
    slots = [s for s in range((len(raw) - 4096) // bs)
             if raw[4096 + s * bs:4096 + (s + 1) * bs] == want]
    if len(slots) != 1:
        sys.exit("block %d is in slots %s of the cache file" % (block, slots))
    f.seek(4096 + slots[0] * bs + 1000)
    f.write(b"\xff" * 100)
PY
}

kill9() {  # NAME
  local var="${1}_PID"
  kill -KILL "${!var}"
  wait "${!var}" 2>/dev/null || true
}

# log_since FILE LINE: the lines of FILE after line LINE.
log_since() { tail -n +$(($2 + 1)) "$1"; }

# run_store NAME STORE_ARGS...: the whole scenario over one store. No
# --force anywhere: a restart after kill -9 takes over the mount token its
# dead self left.
run_store() {
  STORE=$1
  shift
  local cache="$TMP/$STORE.cache" mark
  local -a common=(--blockSize=64k --size=$SIZE --blockCacheFile="$cache"
    --blockCacheSize=32 --readAhead=0)
  local -a held=("${common[@]}" --blockCacheWriteDelay=3600000)
  echo "--- $STORE" >&2

  # The store holds v1 of every block.
  start_named s "$@" "${common[@]}"
  nbdcopy "$TMP/v1.raw" "$s_URI" || fail "$STORE: nbdcopy v1 failed"
  stop_named s

  # a. Blocks 0..7 flushed in the cache only; the index goes.
  start_named s "$@" "${held[@]}"
  expect_blocks ok "$s_URI" write "$TMP/v2.raw" 0 8
  kill9 s
  cp "$cache" "$TMP/saved.cache"
  cp "$cache.lmdb" "$TMP/saved.lmdb"
  rm "$cache.lmdb"
  refused "$TMP/refused.out" "$@" "${held[@]}"
  [ "$REFUSED_RC" -eq 1 ] ||
    fail "$STORE: refused start without the index exited $REFUSED_RC, not 1"
  grep -q "8 dirty blocks not uploaded yet" "$TMP/refused.out" &&
    grep -q -- "--blockCacheDiscardDirty" "$TMP/refused.out" ||
    fail "$STORE: the refusal does not say how many blocks and the option: $(cat "$TMP/refused.out")"
  : >"$cache.lmdb"
  refused "$TMP/refused.out" "$@" "${held[@]}"
  [ "$REFUSED_RC" -eq 1 ] && grep -q "8 dirty blocks not uploaded yet" "$TMP/refused.out" ||
    fail "$STORE: an empty index: status $REFUSED_RC: $(cat "$TMP/refused.out")"
  rm "$cache.lmdb"
  mark=$(wc -l <"$TMP/usbd.log")
  start_named s "$@" "${held[@]}" --blockCacheDiscardDirty
  log_since "$TMP/usbd.log" "$mark" | grep -q "blockCacheDiscardDirty: dropped 8 dirty blocks" ||
    fail "$STORE: --blockCacheDiscardDirty did not log the 8 dropped blocks"
  expect_blocks ok "$s_URI" read "$TMP/v1.raw" 0 8  # the store's versions
  stop_named s
  # The refusals had kept everything: with the files as the crash left
  # them, every flushed block is back (and then uploaded).
  cp "$TMP/saved.cache" "$cache"
  cp "$TMP/saved.lmdb" "$cache.lmdb"
  start_named s "$@" "${held[@]}"
  expect_blocks ok "$s_URI" read "$TMP/v2.raw" 0 8
  stop_named s

  # b. Blocks 10..17 flushed in the cache only; block 12's slot damaged.
  start_named s "$@" "${held[@]}"
  expect_blocks ok "$s_URI" write "$TMP/v2.raw" 10 8
  kill9 s
  damage_slot "$cache" "$TMP/v2.raw" 12 || fail "$STORE: cannot find block 12's slot"
  for restart in first kill9 stop; do
    mark=$(wc -l <"$TMP/usbd.log")
    start_named s "$@" "${held[@]}"
    log_since "$TMP/usbd.log" "$mark" |
      grep -q "warning: cache: .*: 1 blocks lost their newest flushed data (blocks 12)" ||
      fail "$STORE: no warning naming lost block 12 ($restart start)"
    expect_blocks EIO "$s_URI" read "$TMP/v2.raw" 12 1
    expect_op EIO "$s_URI" write $((12 * BS + 4096)) 4096 "$TMP/v2.raw"
    # SIGUSR1 (usbd(8), SIGNALS): the counters show the lost block.
    kill -USR1 "$s_PID"
    for ((i = 0; i < 100; i++)); do
      log_since "$TMP/usbd.log" "$mark" | grep -q "usbd\[$s_PID\]: info: stats: .*cache.lost=1\b" && break
      sleep 0.05
    done
    [ $i -lt 100 ] ||
      fail "$STORE: SIGUSR1 logged no 'cache.lost=1': $(log_since "$TMP/usbd.log" "$mark" | grep stats:)"
    expect_blocks ok "$s_URI" read "$TMP/v2.raw" 10 2
    expect_blocks ok "$s_URI" read "$TMP/v2.raw" 13 5
    if [ $restart = stop ]; then break; fi
    if [ $restart = first ]; then kill9 s; else stop_named s; fi
  done
  expect_blocks ok "$s_URI" write "$TMP/v2.raw" 12 1
  expect_blocks ok "$s_URI" read "$TMP/v2.raw" 12 1
  kill9 s
  start_named s "$@" "${held[@]}"
  expect_blocks ok "$s_URI" read "$TMP/v2.raw" 10 8
  stop_named s
  # The store alone (an empty cache) holds everything now.
  rm -f "$cache" "$cache.lmdb"
  start_named s "$@" "${common[@]}"
  expect_blocks ok "$s_URI" read "$TMP/v2.raw" 10 8
  stop_named s
}

run_store dir --test "$TMP/dirstore"

require_nginx_or_note() {
  NGINX=$(find_tool nginx)
  [ -n "$NGINX" ]
}
if require_nginx_or_note; then
  start_nginx_dav
  run_store http --httpStore --baseURL="$NGINX_URL" disk/vol
else
  echo "note: nginx not found: the HTTP store run was skipped" >&2
fi
echo "PASS: $TEST_NAME"
