#!/bin/bash
# qemu-img convert of a 64 MiB random raw image (with zero runs, so that
# qemu-img also sends write-zeroes) into usbd over nbd+unix and back out;
# the image that comes back must be byte-identical.
source "$(dirname "$0")/lib.sh"
require_tool qemu-img openssl cmp

MIB=$((1024 * 1024))
SIZE=$((64 * MIB))

# make_random_file's pipeline ends with openssl killed by SIGPIPE, which
# pipefail turns into a failure: accept it when the file is complete.
random_file() {  # FILE SIZE SEED
  make_random_file "$@" || true
  [ "$(stat -c %s "$1")" -eq "$2" ] || fail "could not create $1"
}

random_file "$TMP/in.raw" $SIZE 11
# Zero runs: aligned whole blocks, an unaligned run across a block boundary,
# and a short run, so that qemu-img's zero detection produces write-zeroes
# of several shapes.
dd if=/dev/zero of="$TMP/in.raw" bs=1M seek=8 count=4 conv=notrunc status=none
dd if=/dev/zero of="$TMP/in.raw" bs=1 seek=$((20 * MIB + 1000)) \
  count=$((300 * 1024)) conv=notrunc status=none
dd if=/dev/zero of="$TMP/in.raw" bs=4k seek=$((40 * 256 + 3)) count=5 \
  conv=notrunc status=none

mkdir "$TMP/store"
start_usbd --test --size=$SIZE "$TMP/store"

actual_size=$(qemu-img info --output=json "$URI" |
  sed -n 's/.*"virtual-size": *\([0-9]*\).*/\1/p')
[ "$actual_size" = "$SIZE" ] ||
  fail "qemu-img info: virtual size '$actual_size', expected $SIZE"

qemu-img convert -n -p -f raw -O raw "$TMP/in.raw" "$URI" >/dev/null ||
  fail "qemu-img convert into usbd failed"
qemu-img convert -f raw -O raw "$URI" "$TMP/out.raw" ||
  fail "qemu-img convert out of usbd failed"
cmp "$TMP/in.raw" "$TMP/out.raw" ||
  fail "image read back from usbd differs from the one written"
qemu-img compare -f raw -F raw "$TMP/in.raw" "$URI" >/dev/null ||
  fail "qemu-img compare reports a difference"

# The data must also survive a restart on the same directory.
stop_usbd
start_usbd --test --size=$SIZE "$TMP/store"
rm -f "$TMP/out.raw"
qemu-img convert -f raw -O raw "$URI" "$TMP/out.raw" ||
  fail "qemu-img convert out of the restarted usbd failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "image differs after a restart"
stop_usbd
echo "PASS: $TEST_NAME"
