#!/bin/bash
# Runs inside the VM (tests/vm/run_vm.sh tests/vm/bench_scenario.sh): dd
# sequential write and read through /dev/nbdX, for `usbd --nbd` (memory and
# directory stores) and for nbd-client with `nbdkit memory`. The VM is slow
# (TCG): only the ratios mean something. Not part of make check.
set -euo pipefail
: "${USBD:?}"
SIZE_MB=${BENCH_MB:-128}
DATA=/tmp/data
head -c $((SIZE_MB << 20)) /dev/urandom >"$DATA"
modprobe nbd

# dd_rate WHAT DEVICE: prints "WHAT write MB/s read MB/s".
dd_rate() {
  local what=$1 device=$2 start end write read
  sync
  echo 3 >/proc/sys/vm/drop_caches
  start=$(date +%s.%N)
  dd if="$DATA" of="$device" bs=1M oflag=direct conv=fsync status=none
  end=$(date +%s.%N)
  write=$(echo "$SIZE_MB / ($end - $start)" | bc -l)
  echo 3 >/proc/sys/vm/drop_caches
  start=$(date +%s.%N)
  dd if="$device" of=/dev/null bs=1M count="$SIZE_MB" iflag=direct \
    status=none
  end=$(date +%s.%N)
  read=$(echo "$SIZE_MB / ($end - $start)" | bc -l)
  printf 'BENCH %-28s write %7.1f MB/s  read %7.1f MB/s\n' "$what" \
    "$write" "$read"
}

run_usbd() {  # NAME DEVICE ARGS...
  local name=$1 device=$2
  shift 2
  "$USBD" --nbd --size=256M "$@" "$device" >/dev/null || exit 1
  dd_rate "$name" "$device"
  kill -TERM "$(tr -dc 0-9 <"/run/usbd/$(basename "$device").lock")"
  while [ -e "/sys/block/$(basename "$device")/pid" ]; do sleep 0.2; done
}

run_usbd "usbd --nbd --memory" /dev/nbd0 --memory mem
mkdir -p /tmp/store
run_usbd "usbd --nbd --test (tmpfs)" /dev/nbd1 --test /tmp/store

nbdkit -U /tmp/nbdkit.sock memory 256M
nbd-client -unix /tmp/nbdkit.sock /dev/nbd2 -b 4096 -connections 2 >/dev/null
dd_rate "nbd-client + nbdkit memory" /dev/nbd2
nbd-client -d /dev/nbd2 >/dev/null
