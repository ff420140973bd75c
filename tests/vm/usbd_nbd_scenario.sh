#!/bin/bash
# Runs inside the VM (tests/vm/run_vm.sh): the real `usbd --nbd` on the
# real kernel NBD driver, over the local directory store.
#
#  1. `usbd --nbd --configFile=opts.conf STORE /dev/nbd0` detaches only once
#     the device is connected; mkfs.ext4, mount, files with checksums, sync.
#  2. A second usbd on the same device is refused ("busy"), as is a device
#     that nbd-client serves.
#  3. Keep writing, kill -9 usbd; a new usbd reattaches to the device the
#     mounted file system still uses; stop writing, umount, `fsck -n` is
#     clean, the synced files are intact.
#  4. Clean stop: umount, SIGTERM: exit 0, the device is disconnected.
#  5. Cold start (a new process, an empty cache; through the ioctl
#     interface this time): fsck -n, every file intact.
#  6. Without TARGET the kernel picks a free device and usbd prints it.
#
# USBD_VM_ARGS (environment) adds options to every usbd command line.
# USBD_VM_CACHE_KEY names the options-file key of the local cache (e.g.
# cacheFile): the cache is then /tmp/cache/usbd.cache, the kill -9 in step 3
# leaves dirty blocks in it, and step 5 starts with the cache deleted (the
# clean stop of step 4 must have uploaded everything).
set -euo pipefail
: "${USBD:?}"

STORE=/tmp/store
CONF=/tmp/opts.conf
MNT=/mnt/usbd
LOG=/tmp/usbd.log
DEV=/dev/nbd0
read -r -a EXTRA <<<"${USBD_VM_ARGS:-}"
# The write-back cache is on by default: the crash step is the real one.
USBD_VM_CACHE_KEY=${USBD_VM_CACHE_KEY-blockCacheFile}
WRITER=

step() { echo "--- $(date +%T) $*"; }
fail() {
  echo "FAIL: $*"
  echo "--- usbd log"; tail -n 40 "$LOG" || true
  echo "--- dmesg"; dmesg | tail -n 40 || true
  exit 1
}
usbd_pids() { pgrep -x usbd || true; }
cleanup() {
  [ -z "$WRITER" ] || kill -KILL "$WRITER" 2>/dev/null || true
  umount -l "$MNT" 2>/dev/null || true
  for pid in $(usbd_pids); do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

connected() { [ -e "/sys/block/$(basename "$1")/pid" ]; }
# The pid of the usbd serving /dev/nbdN (it holds /run/usbd/nbdN.lock).
server_pid() { tr -dc 0-9 <"/run/usbd/$(basename "$1").lock"; }
sums() { (cd "$MNT" && find . -type f ! -path './lost+found/*' -print0 |
  sort -z | xargs -0 sha256sum); }
# Starts usbd -f in the background for DEVICE and waits until it is attached.
start_foreground() {  # DEVICE [OPTIONS...]
  local device=$1
  shift
  "$USBD" -f --nbd --configFile="$CONF" "${EXTRA[@]}" "$@" "$STORE" \
    "$device" >>"$LOG" 2>&1 &
  local pid=$!
  for _ in $(seq 150); do
    if grep -q "usbd\[$pid\]: .*serving .* on $device" "$LOG" 2>/dev/null; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "usbd exited during start"
    sleep 0.2
  done
  fail "usbd did not attach $device within 30 s"
}
# SIGTERM, then expects the exit and a disconnected device (and, for a
# foreground usbd, its log line).
stop_server() {  # DEVICE [--daemon]
  local pid
  pid=$(server_pid "$1")
  kill -TERM "$pid"
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$pid" 2>/dev/null && fail "usbd did not exit after SIGTERM"
  connected "$1" && fail "$1 still connected after usbd stopped"
  if [ "${2:-}" != --daemon ]; then
    grep -q "disconnected $1" "$LOG" || fail "no 'disconnected' log line"
  fi
  return 0
}

mkdir -p "$STORE" "$MNT"
cat >"$CONF" <<EOF
# the options file of this test (usbd.conf(5))
[usbd]
test = true
size = 256M
blockSize = 64k
nbdConnections = 2
nbdDeadConnTimeout = 120
EOF
if [ -n "${USBD_VM_CACHE_KEY:-}" ]; then
  mkdir -p /tmp/cache
  echo "$USBD_VM_CACHE_KEY = /tmp/cache/usbd.cache" >>"$CONF"
fi
: >"$LOG"

step "1. usbd --nbd (daemon): attached when the command returns"
[ ! -d /sys/module/nbd ] || fail "nbd is loaded already: usbd should load it"
"$USBD" --nbd --configFile="$CONF" "${EXTRA[@]}" "$STORE" "$DEV" ||
  fail "usbd --nbd exited with $?"
connected "$DEV" || fail "$DEV is not connected after usbd returned"
[ "$(blockdev --getsize64 $DEV)" = $((256 << 20)) ] || fail "wrong size"
[ "$(cat /sys/block/nbd0/queue/logical_block_size)" = 4096 ] ||
  fail "sector size is not 4096"
echo "max_sectors_kb: $(cat /sys/block/nbd0/queue/max_sectors_kb)"
echo "backend: $(cat /sys/block/nbd0/backend 2>/dev/null || echo '?')"
grep -q "write back" /sys/block/nbd0/queue/write_cache ||
  fail "write cache off: the kernel was not told SEND_FLUSH"
[ "$(cat /sys/block/nbd0/queue/discard_max_bytes)" != 0 ] ||
  fail "discard off: the kernel was not told SEND_TRIM"
PID1=$(server_pid $DEV)
[ "$(cat /proc/"$PID1"/oom_score_adj)" = -1000 ] || fail "oom_score_adj"
grep -q VmLck /proc/"$PID1"/status && grep VmLck /proc/"$PID1"/status

mkfs.ext4 -q -F "$DEV" || fail "mkfs.ext4"
mount "$DEV" "$MNT" || fail "mount"
head -c $((3 << 20)) /dev/urandom >"$MNT/random3M"
head -c 12345 /dev/urandom >"$MNT/odd"
mkdir "$MNT/dir"
for i in $(seq 30); do echo "file $i" >"$MNT/dir/f$i"; done
dd if=/dev/urandom of="$MNT/big" bs=1M count=16 status=none
sync
sums >/tmp/synced.sums
echo "$(wc -l </tmp/synced.sums) files synced"

step "2. a second usbd on $DEV is refused"
if "$USBD" -f --nbd --configFile="$CONF" "${EXTRA[@]}" "$STORE" "$DEV" \
  >/tmp/second.log 2>&1; then
  fail "a second usbd attached to a busy device"
fi
cat /tmp/second.log
# The volume's mount token refuses it before the device is looked at.
grep -q "running on this machine" /tmp/second.log ||
  fail "the error does not name the running usbd"
[ "$(server_pid $DEV)" = "$PID1" ] || fail "the first usbd lost its lock"
# ... and so is a device that another (live) NBD server holds.
nbdkit -U /tmp/nbdkit.sock memory 256M
nbd-client -unix /tmp/nbdkit.sock /dev/nbd1 -b 4096 >/dev/null ||
  fail "nbd-client"
# (Another volume, so that the device, not the mount token, refuses it.)
if "$USBD" -f --nbd --configFile="$CONF" "${EXTRA[@]}" --size=64M --blockCacheFile=/tmp/other.cache \
  "$STORE-other" /dev/nbd1 >/tmp/third.log 2>&1; then
  fail "usbd took over a device another server is serving"
fi
cat /tmp/third.log
grep -qi busy /tmp/third.log || fail "the error does not say busy"
dd if=/dev/nbd1 of=/dev/null bs=4k count=1 status=none ||
  fail "nbd-client's device broke"
nbd-client -d /dev/nbd1 >/dev/null

step "3. keep writing, kill -9 usbd, restart: it reattaches"
mkdir "$MNT/live"
(i=0; while :; do
  dd if=/dev/urandom of="$MNT/live/f$i" bs=64k count=4 status=none
  i=$((i + 1))
done) &
WRITER=$!
sleep 3
kill -KILL "$PID1"
sleep 1
connected "$DEV" || fail "$DEV lost its configuration with its server"
start_foreground "$DEV"
grep -q "reattached $DEV" "$LOG" || fail "the new usbd did not reattach"
sleep 3
kill -KILL "$WRITER"
wait "$WRITER" 2>/dev/null || true
WRITER=
echo "the writer wrote $(ls "$MNT/live" | wc -l) files"
umount "$MNT" || fail "umount after the restart"
e2fsck -fn "$DEV" || fail "fsck -n after kill -9 and reattach"
mount "$DEV" "$MNT" || fail "mount after fsck"
(cd "$MNT" && sha256sum --quiet -c /tmp/synced.sums) ||
  fail "synced files changed across kill -9"
sums >/tmp/all.sums

step "4. clean stop: umount, SIGTERM"
umount "$MNT"
stop_server "$DEV"

step "5. cold start (empty cache) through the ioctl interface"
rm -rf /tmp/cache/*
start_foreground "$DEV" --nbdIoctl
grep -q "attached $DEV (ioctl" "$LOG" || fail "not attached with ioctls"
e2fsck -fn "$DEV" || fail "fsck -n after a clean stop"
mount "$DEV" "$MNT" || fail "mount after cold start"
(cd "$MNT" && sha256sum --quiet -c /tmp/all.sums) ||
  fail "files changed across a clean stop"
umount "$MNT"
stop_server "$DEV"

step "6. no TARGET: the kernel picks the device, usbd prints it"
"$USBD" --nbd --configFile="$CONF" "${EXTRA[@]}" "$STORE" >/tmp/picked ||
  fail "usbd --nbd without TARGET failed"
PICKED=$(cat /tmp/picked)
echo "picked: $PICKED"
[[ $PICKED =~ ^/dev/nbd[0-9]+$ ]] || fail "usbd printed '$PICKED'"
connected "$PICKED" || fail "$PICKED is not connected"
e2fsck -fn "$PICKED" >/dev/null || fail "fsck -n on $PICKED"
stop_server "$PICKED" --daemon

step "PASS: usbd --nbd: $(wc -l </tmp/all.sums) files intact"
