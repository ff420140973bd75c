#!/bin/bash
# fio with its nbd engine (libnbd): random writes at queue depth 32 from two
# jobs at once, each job on its own region, then fio reads everything back
# and checks the crc32c it wrote into each block (verify=crc32c, do_verify).
# Run on the directory store with 4 KiB writes (all read-modify-write of
# 256 KiB blocks) and on the memory store with mixed sizes up to 1 MiB.
source "$(dirname "$0")/lib.sh"
require_tool fio
fio --enghelp=nbd >/dev/null 2>&1 || {
  echo "SKIP: $TEST_NAME: this fio has no nbd engine" >&2
  exit 77
}

MIB=$((1024 * 1024))

run_fio() {  # LABEL FIO-OPTIONS...
  local label=$1
  shift
  local out="$TMP/fio-$label.out" status=0
  # In $TMP: fio drops *-verify.state files into its working directory.
  (cd "$TMP" && timeout 120 fio --name="$label" --ioengine=nbd --uri="$URI" \
    --rw=randwrite --iodepth=32 --numjobs=2 \
    --size=32m --offset_increment=32m \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
    --group_reporting "$@") >"$out" 2>&1 || status=$?
  if [ $status -ne 0 ] || ! grep -q 'err= 0' "$out" ||
    grep -Eiq 'verify failed|bad magic|bad header|verify: ' "$out"; then
    tail -n 40 "$out" >&2
    fail "fio ($label) exit status $status or verify errors"
  fi
  # Both phases must actually have run: 64 MiB written and read back.
  grep -Eq 'WRITE: .*io=64\.0MiB' "$out" ||
    fail "fio ($label) did not write 64 MiB: $(grep WRITE: "$out")"
  grep -Eq 'READ: .*io=64\.0MiB' "$out" ||
    fail "fio ($label) did not verify 64 MiB: $(grep READ: "$out")"
}

mkdir "$TMP/store"
start_usbd --test --size=$((128 * MIB)) "$TMP/store"
run_fio dir-4k --bs=4k
stop_usbd

start_usbd --memory --size=$((128 * MIB)) vol
run_fio memory-mixed --bssplit=4k/40:64k/30:1m/30
stop_usbd
echo "PASS: $TEST_NAME"
