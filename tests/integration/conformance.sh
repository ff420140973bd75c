#!/bin/bash
# NBD conformance: runs the libnbd + raw-protocol GoogleTest program
# (tests/integration/nbd_conformance) against a real usbd, once on the
# in-memory store, once on the local directory store (--test) and once on
# the full stack (persistent cache, --compress, --encrypt over --test),
# each time with a second, --readOnly usbd for the EPERM tests.
source "$(dirname "$0")/lib.sh"

: "${top_builddir:=$(cd "$(dirname "$USBD")" && pwd)}"
CONFORMANCE="$top_builddir/tests/integration/nbd_conformance"
if [ ! -x "$CONFORMANCE" ]; then
  echo "SKIP: $TEST_NAME: $CONFORMANCE is not built (configure found no libnbd?)" >&2
  exit 77
fi

SIZE=$((1024 * 1024 * 1024))
BLOCK_SIZE=$((256 * 1024))
BUCKET=vol


FAILED_STORES=
run_suite() {  # LABEL RW_SOCKET RO_SOCKET
  echo "=== conformance on the $1 store ==="
  local status=0
  USBD_SOCKET=$2 USBD_RO_SOCKET=$3 USBD_EXPORT=$BUCKET USBD_SIZE=$SIZE \
    USBD_BLOCK_SIZE=$BLOCK_SIZE timeout 300 "$CONFORMANCE" || status=$?
  if [ $status -ne 0 ]; then
    echo "conformance tests failed on the $1 store (exit $status)" >&2
    FAILED_STORES="$FAILED_STORES $1"
  fi
}

start_named ro --memory --readOnly --size=$SIZE "$BUCKET"

start_named mem --memory --size=$SIZE --blockSize=$BLOCK_SIZE "$BUCKET"
run_suite memory "$TMP/mem.sock" "$TMP/ro.sock"
stop_named mem

mkdir "$TMP/store"
start_named dir --test --size=$SIZE --blockSize=$BLOCK_SIZE "$TMP/store"
# With --test the BUCKET string is the directory.
BUCKET="$TMP/store"
run_suite directory "$TMP/dir.sock" "$TMP/ro.sock"
stop_named dir

# The whole stack users run with a persistent cache: write-back cache
# (cache file + LMDB) -> zero -> codec (zstd) -> encryption -> directory.
mkdir "$TMP/full"
printf 'conformance password\n' >"$TMP/pw"
chmod 600 "$TMP/pw"
start_named full --test --compress --encrypt --passwordFile="$TMP/pw" \
  --blockCacheFile="$TMP/cache" --blockCacheSize=64 \
  --size=$SIZE --blockSize=$BLOCK_SIZE "$TMP/full"
BUCKET="$TMP/full"
run_suite "full stack (cache, compress, encrypt over directory)" \
  "$TMP/full.sock" "$TMP/ro.sock"
stop_named full

stop_named ro
[ -z "$FAILED_STORES" ] || fail "failures on:$FAILED_STORES"
echo "PASS: $TEST_NAME"
