#!/bin/bash
# nbdcopy round trip (file -> usbd -> file, with multi-conn and many
# requests in flight), then a copy between two usbd instances (memory store
# -> directory store), verified byte for byte and again after a restart.
source "$(dirname "$0")/lib.sh"
require_tool nbdcopy openssl cmp

MIB=$((1024 * 1024))
SIZE=$((96 * MIB))

# make_random_file's pipeline ends with openssl killed by SIGPIPE, which
# pipefail turns into a failure: accept it when the file is complete.
random_file() {  # FILE SIZE SEED
  make_random_file "$@" || true
  [ "$(stat -c %s "$1")" -eq "$2" ] || fail "could not create $1"
}


random_file "$TMP/in.raw" $SIZE 21
# A hole-shaped run of zeros so that nbdcopy's zero detection kicks in.
dd if=/dev/zero of="$TMP/in.raw" bs=1M seek=10 count=6 conv=notrunc status=none

start_named a --memory --size=$SIZE vol
mkdir "$TMP/store"
start_named b --test --size=$SIZE "$TMP/store"

# 1. Round trip through the memory store.
nbdcopy --flush --connections=4 --requests=64 "$TMP/in.raw" "$a_URI" ||
  fail "nbdcopy file -> usbd failed"
nbdcopy --connections=4 --requests=64 "$a_URI" "$TMP/out.raw" ||
  fail "nbdcopy usbd -> file failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "round trip through usbd changed data"

# 1b. Requests smaller than a block (4 KiB, read side) and at the maximum
#     payload (32 MiB, write side).
nbdcopy --request-size=4096 --requests=32 "$a_URI" "$TMP/out-small.raw" ||
  fail "nbdcopy usbd -> file with 4 KiB requests failed"
cmp "$TMP/in.raw" "$TMP/out-small.raw" || fail "4 KiB-request read-back differs"
rm -f "$TMP/out-small.raw"
random_file "$TMP/in2.raw" $SIZE 22
nbdcopy --request-size=$((32 * MIB)) "$TMP/in2.raw" "$a_URI" ||
  fail "nbdcopy file -> usbd with 32 MiB requests failed"
nbdcopy "$a_URI" "$TMP/out2.raw" || fail "nbdcopy usbd -> file failed"
cmp "$TMP/in2.raw" "$TMP/out2.raw" || fail "32 MiB-request round trip differs"
rm -f "$TMP/in2.raw" "$TMP/out2.raw"
nbdcopy --flush "$TMP/in.raw" "$a_URI" || fail "nbdcopy file -> usbd failed"

# 2. usbd -> usbd.
nbdcopy --flush --connections=4 --requests=64 "$a_URI" "$b_URI" ||
  fail "nbdcopy usbd(memory) -> usbd(directory) failed"
rm -f "$TMP/out.raw"
nbdcopy "$b_URI" "$TMP/out.raw" || fail "nbdcopy usbd(directory) -> file failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "usbd -> usbd copy changed data"

# 3. The directory store keeps it across a restart.
stop_named b
start_named b --test --size=$SIZE "$TMP/store"
rm -f "$TMP/out.raw"
nbdcopy "$b_URI" "$TMP/out.raw" || fail "nbdcopy after restart failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "data differs after a restart"

stop_named b
stop_named a
echo "PASS: $TEST_NAME"
