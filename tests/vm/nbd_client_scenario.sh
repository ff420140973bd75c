#!/bin/bash
# Runs inside the VM (tests/vm/run_vm.sh): the real usbd server on a unix
# socket and Debian's nbd-client attaching the kernel's NBD driver to it.
# Validates the VM harness and our server against the real kernel client:
# mkfs.ext4, mount, files with checksums, sync, umount, disconnect; then a
# new usbd process over the same store, reconnect (this time through the
# ioctl interface), fsck -n, and the checksums again.
set -euo pipefail
: "${USBD:?}"

STORE=/tmp/store
SOCK=/tmp/usbd.sock
MNT=/mnt/usbd
USBD_PID=

step() { echo "--- $(date +%T) $*"; }
fail() {
  echo "FAIL: $*"
  echo "--- usbd log"; tail -n 40 /tmp/usbd.log || true
  echo "--- dmesg"; dmesg | tail -n 30 || true
  exit 1
}
cleanup() {
  umount "$MNT" 2>/dev/null || true
  nbd-client -d /dev/nbd0 >/dev/null 2>&1 || true
  [ -z "$USBD_PID" ] || kill -KILL "$USBD_PID" 2>/dev/null || true
}
trap cleanup EXIT

start_usbd() {
  rm -f "$SOCK"
  "$USBD" -f --test --size=256M --listen="unix:$SOCK" "$STORE" \
    >>/tmp/usbd.log 2>&1 &
  USBD_PID=$!
  for _ in $(seq 100); do
    [ -S "$SOCK" ] && return 0
    kill -0 "$USBD_PID" 2>/dev/null || fail "usbd exited during start"
    sleep 0.1
  done
  fail "usbd did not create $SOCK"
}
stop_usbd() {
  kill -TERM "$USBD_PID"
  local status=0
  wait "$USBD_PID" || status=$?
  USBD_PID=
  [ $status -eq 0 ] || fail "usbd exited with $status after SIGTERM"
}
# Waits until /dev/nbd0 has its size (the kernel sets it at connect).
wait_device() {
  for _ in $(seq 100); do
    [ "$(cat /sys/block/nbd0/size)" != 0 ] && return 0
    sleep 0.1
  done
  fail "/dev/nbd0 did not come up"
}

step "modprobe nbd"
[ -d /sys/module/nbd ] || modprobe nbd || fail "modprobe nbd"
mkdir -p "$STORE" "$MNT"

step "usbd + nbd-client (netlink, 2 connections)"
start_usbd
nbd-client -unix "$SOCK" /dev/nbd0 -b 4096 -connections 2 ||
  fail "nbd-client could not connect"
wait_device
[ "$(blockdev --getsize64 /dev/nbd0)" = $((256 << 20)) ] ||
  fail "wrong size: $(blockdev --getsize64 /dev/nbd0)"
[ "$(cat /sys/block/nbd0/queue/logical_block_size)" = 4096 ] ||
  fail "logical block size is not 4096"

step "mkfs.ext4, mount, write"
mkfs.ext4 -q -F /dev/nbd0 || fail "mkfs.ext4"
mount /dev/nbd0 "$MNT" || fail "mount"
head -c $((3 << 20)) /dev/urandom >"$MNT/random3M"
head -c 12345 /dev/urandom >"$MNT/odd"
mkdir "$MNT/dir"
for i in $(seq 20); do echo "file $i" >"$MNT/dir/f$i"; done
dd if=/dev/urandom of="$MNT/big" bs=1M count=16 status=none
(cd "$MNT" && find . -type f ! -name lost+found -print0 | sort -z |
  xargs -0 sha256sum) >/tmp/sums
sync
fstrim -v "$MNT" || echo "(fstrim not supported)"
umount "$MNT"
nbd-client -d /dev/nbd0 || fail "nbd-client -d"
stop_usbd

step "new usbd process, reconnect through the ioctl interface"
start_usbd
nbd-client -unix "$SOCK" /dev/nbd0 -b 4096 -nonetlink ||
  fail "nbd-client -nonetlink could not connect"
wait_device
e2fsck -fn /dev/nbd0 || fail "e2fsck found problems"
mount /dev/nbd0 "$MNT" || fail "mount after reconnect"
(cd "$MNT" && sha256sum --quiet -c /tmp/sums) || fail "checksums differ"
umount "$MNT"
nbd-client -d /dev/nbd0 || fail "nbd-client -d"
stop_usbd
step "PASS: $(wc -l </tmp/sums) files verified through /dev/nbd0"
