#!/bin/bash
# Runs inside the VM under systemd (tests/vm/systemd_crash.sh, run_vm.sh
# --systemd): the shipped usbd-nbd@.service serves /dev/nbd0 from nginx on
# the host (HTTP store), /srv/data is mounted by the shipped fstab line, the
# cache file is on the persistent disk (/persist).
#
#   boot1: mkfs, mount (systemd), then under a running writer that fsyncs
#          every third file: kill -9 usbd KILLS times; each time systemd
#          restarts it, it finds dirty blocks, reattaches /dev/nbd0, and the
#          mount stays as it is (srv-data.mount never leaves "active");
#          umount, e2fsck -fn clean, every file intact, fsynced or not
#          (a kill -9 loses no write usbd acknowledged). Then `systemctl
#          stop` with the file system mounted: usbd keeps serving; umount;
#          usbd exits cleanly; the files written just before are intact.
#          Then a writer again, and RESET_MARKER on the console: the host
#          kills qemu (a power cut) while it runs.
#   boot2: systemd starts usbd, which uploads the dirty blocks of its cache
#          file, and mounts /srv/data; umount, e2fsck -fn clean, every file
#          synced in boot 1 intact. Then a file left in the page cache and
#          a clean shutdown (the host checks the store).
#
# Files on /persist (survive the VM): synced.sums (sha256 and name of every
# file fsynced, appended and fsynced after the file), all.sums (every file
# checked after boot 1's crash cycles).
set -euo pipefail
PHASE=${1:?boot1 or boot2}
KILLS=${KILLS:-3}
UNIT=usbd-nbd@nbd0.service
MOUNT_UNIT=srv-data.mount
MNT=/srv/data
DEV=/dev/nbd0
RESET_MARKER=USBD-VM-RESET-NOW
WRITER=
START=$(date +%s)

step() { echo "--- $(($(date +%s) - START)) s: $*"; }
fail() {
  echo "FAIL: $*"
  echo "--- systemctl status"
  systemctl --no-pager status "$UNIT" "$MOUNT_UNIT" 2>&1 | tail -n 30 || true
  echo "--- journal"
  journalctl --no-pager -b -o short-monotonic \
    -u "$UNIT" -u "$MOUNT_UNIT" -u dev-nbd0.device 2>&1 | tail -n 80 || true
  echo "--- dmesg"
  dmesg | tail -n 30 || true
  exit 1
}
cleanup() {
  [ -z "$WRITER" ] || { touch /tmp/writer.stop; kill "$WRITER" 2>/dev/null; }
  return 0
}
trap cleanup EXIT

prop() { systemctl show -p "$2" --value "$1"; }  # UNIT PROPERTY
main_pid() { prop "$UNIT" MainPID; }
mounted_dev() { findmnt -n -o SOURCE --mountpoint "$MNT" 2>/dev/null || true; }
# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds.
wait_for() {
  local seconds=$1 what=$2 i
  shift 2
  for ((i = 0; i < seconds * 2; i++)); do
    "$@" && return 0
    sleep 0.5
  done
  fail "$what: not within $seconds s"
}
# lines_ge FILE N [PATTERN]: FILE has at least N lines (matching PATTERN).
lines_ge() { [ "$(grep -c -- "${3:-}" "$1")" -ge "$2" ]; }
# pid_changed OLD: usbd has a main process, and it is not OLD.
pid_changed() { local pid; pid=$(main_pid); [ "$pid" != 0 ] && [ "$pid" != "$1" ]; }
not_deactivating() { [ "$(prop "$UNIT" ActiveState)" != deactivating ]; }
unit_active() { [ "$(prop "$1" ActiveState)" = active ]; }
usbd_log() { journalctl --no-pager -o cat "_PID=$1"; }  # PID
# check_sums FILE: every "sha256  name" of FILE matches under $MNT.
check_sums() {
  (cd "$MNT" && sha256sum --quiet -c "$1") || fail "files differ from $1"
}
fsck_clean() {
  systemctl stop "$MOUNT_UNIT" || fail "cannot unmount $MNT"
  [ -z "$(mounted_dev)" ] || fail "$MNT still mounted"
  e2fsck -fn "$DEV" || fail "e2fsck -fn $DEV is not clean"
  FSCKS=$((FSCKS + 1))
  systemctl start "$MOUNT_UNIT" || fail "cannot mount $MNT again"
}
FSCKS=0

# The writer: 256 KiB files of random data in $MNT/$1; every third one is
# fsynced, then recorded in /persist/synced.sums (itself fsynced); every
# file written is recorded in /tmp/written.sums. Stops at /tmp/writer.stop;
# an error is recorded in /tmp/writer.errors.
writer() {
  local dir=$MNT/$1 i=0 sum
  mkdir -p "$dir"
  rm -f /tmp/writer.stop /tmp/writer.errors
  while [ ! -e /tmp/writer.stop ]; do
    if [ "$(mounted_dev)" != "$DEV" ]; then
      echo "f$i: $MNT is not mounted" >>/tmp/writer.errors
      return
    fi
    head -c 262144 /dev/urandom >/tmp/writer.data
    sum=$(sha256sum </tmp/writer.data | cut -c1-64)
    if ((i % 3 == 0)); then
      dd if=/tmp/writer.data of="$dir/f$i" bs=256k conv=fsync status=none ||
        { echo "f$i: dd failed" >>/tmp/writer.errors; return; }
      echo "$sum  $1/f$i" >>/persist/synced.sums
      sync /persist/synced.sums
    else
      cp /tmp/writer.data "$dir/f$i" ||
        { echo "f$i: cp failed" >>/tmp/writer.errors; return; }
    fi
    echo "$sum  $1/f$i" >>/tmp/written.sums
    i=$((i + 1))
  done
}
start_writer() {
  touch /tmp/written.sums
  writer "$1" &
  WRITER=$!
}
stop_writer() {
  touch /tmp/writer.stop
  wait "$WRITER" || true
  WRITER=
  [ ! -s /tmp/writer.errors ] || fail "the writer failed: $(cat /tmp/writer.errors)"
}

[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is not systemd"
step "$PHASE: systemd $(systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1" \
  "($(systemctl is-system-running || true))"
wait_for 60 "$UNIT active" unit_active "$UNIT"
systemd-analyze time 2>/dev/null | head -n 1 || true
PID=$(main_pid)
echo "usbd (pid $PID):"
usbd_log "$PID" | sed 's/^/  | /'
echo "$MOUNT_UNIT: $(systemctl show -p Requires -p Wants -p BindsTo -p After \
  "$MOUNT_UNIT" | tr '\n' ' ')"

if [ "$PHASE" = boot1 ]; then
  step "mkfs.ext4 $DEV, mount $MNT through systemd (the fstab line)"
  mkfs.ext4 -q -F "$DEV" || fail "mkfs.ext4"
  systemctl reset-failed "$MOUNT_UNIT" 2>/dev/null || true
  systemctl start "$MOUNT_UNIT" || fail "cannot mount $MNT"
  [ "$(mounted_dev)" = "$DEV" ] || fail "$MNT is not $DEV"
  : >/persist/synced.sums
  sync /persist/synced.sums

  step "kill -9 usbd $KILLS times under a running writer"
  start_writer live
  SINCE=$(prop "$MOUNT_UNIT" InactiveEnterTimestampMonotonic)
  DIRTY_TOTAL=0
  for ((cycle = 1; cycle <= KILLS; cycle++)); do
    # Kill just after an fsync: its blocks are dirty in usbd's cache (they
    # stay dirty for blockCacheWriteDelay).
    synced=$(wc -l </persist/synced.sums)
    wait_for 60 "the writer fsyncs" lines_ge /persist/synced.sums $((synced + 1))
    old=$(main_pid)
    before=$(wc -l </tmp/written.sums)
    kill -KILL "$old"
    t0=$(date +%s.%N)
    wait_for 90 "systemd restarts usbd" pid_changed "$old"
    wait_for 90 "the restarted usbd is ready" unit_active "$UNIT"
    new=$(main_pid)
    t1=$(date +%s.%N)
    log=$(usbd_log "$new")
    grep -q "reattached $DEV" <<<"$log" ||
      { echo "$log"; fail "cycle $cycle: usbd did not reattach $DEV"; }
    dirty=$(sed -n 's/.* \([0-9]*\) dirty blocks queued for upload.*/\1/p' \
      <<<"$log" | head -n 1)
    [ "${dirty:-0}" -gt 0 ] ||
      { echo "$log"; fail "cycle $cycle: no dirty blocks at the kill"; }
    DIRTY_TOTAL=$((DIRTY_TOTAL + dirty))
    journalctl --no-pager -o short-monotonic -u "$UNIT" --since "@${t0%.*}" |
      sed 's/^/  | /'
    [ "$(mounted_dev)" = "$DEV" ] || fail "cycle $cycle: $MNT was unmounted"
    unit_active "$MOUNT_UNIT" || fail "cycle $cycle: $MOUNT_UNIT is not active"
    [ "$(prop "$MOUNT_UNIT" InactiveEnterTimestampMonotonic)" = "$SINCE" ] ||
      fail "cycle $cycle: systemd stopped $MOUNT_UNIT"
    # (With x-systemd.requires= systemd carries the restart over to the
    # mount: it tries to unmount, which fails here only because the
    # writer keeps the file system busy.)
    ! journalctl --no-pager -b -o cat -u "$MOUNT_UNIT" | grep -i unmounting ||
      fail "cycle $cycle: systemd tried to unmount $MNT"
    # The writer goes on through the new usbd.
    wait_for 60 "the writer goes on" lines_ge /tmp/written.sums $((before + 3))
    echo "cycle $cycle: pid $old killed, pid $new reattached with $dirty" \
      "dirty blocks after $(awk "BEGIN { print $t1 - $t0 }") s; the mount stayed"
  done
  stop_writer
  if dmesg | grep -E 'EXT4-fs error|I/O error|Aborting journal'; then
    fail "the kernel logged I/O or ext4 errors"
  fi
  sync
  fsck_clean
  check_sums /persist/synced.sums
  # Files written without fsync too: the kernel kept them in its page cache
  # or resent them, and a kill -9 loses no write usbd acknowledged (its
  # write log), so every file written is intact.
  differ=$( (cd "$MNT" && sha256sum -c /tmp/written.sums 2>/dev/null || true) |
    grep -c ': FAILED' || true)
  [ "$differ" -eq 0 ] ||
    fail "$differ files written (not fsynced) across the kills differ"
  # What boot 2 must find: the files as they are now (all synced).
  (cd "$MNT" && find live -type f -print0 | sort -z | xargs -0 sha256sum) \
    >/persist/all.sums
  sync /persist/all.sums
  echo "$(wc -l </tmp/written.sums) files written across $KILLS kill -9;" \
    "all intact ($(wc -l </persist/synced.sums) of them fsynced); e2fsck" \
    "clean"

  step "systemctl stop $UNIT with $MNT mounted and busy"
  head -c $((8 << 20)) /dev/urandom >/tmp/stop.data
  cp /tmp/stop.data "$MNT/before-stop"  # async: in the page cache
  PID=$(main_pid)
  systemctl stop --no-block "$UNIT"
  wait_for 30 "usbd says why it goes on" \
    bash -c "journalctl --no-pager -o cat _PID=$PID | grep -q 'still serving'"
  sleep 3
  kill -0 "$PID" 2>/dev/null || fail "usbd exited with $MNT mounted"
  [ -e /sys/block/nbd0/pid ] || fail "$DEV was disconnected while mounted"
  [ "$(prop "$UNIT" ActiveState)" = deactivating ] ||
    fail "$UNIT is $(prop "$UNIT" ActiveState), not deactivating"
  cp /tmp/stop.data "$MNT/during-stop"
  sync "$MNT/during-stop" || fail "sync while stopping"
  journalctl --no-pager -o cat "_PID=$PID" | grep -i 'serving it' |
    sed 's/^/  | /'
  umount "$MNT" || fail "umount while usbd is stopping"
  wait_for 120 "usbd exits once $MNT is unmounted" not_deactivating
  [ "$(prop "$UNIT" ActiveState)" = inactive ] ||
    fail "$UNIT is $(prop "$UNIT" ActiveState) after the stop"
  [ "$(prop "$UNIT" Result)" = success ] ||
    fail "usbd's stop: $(prop "$UNIT" Result)"
  usbd_log "$PID" | tail -n 4 | sed 's/^/  | /'
  usbd_log "$PID" | grep -q "stopped; all data flushed" ||
    fail "usbd did not report a clean stop"
  systemctl start "$UNIT" || fail "cannot start $UNIT again"
  systemctl reset-failed "$MOUNT_UNIT" 2>/dev/null || true
  systemctl start "$MOUNT_UNIT" || fail "cannot mount $MNT again"
  cmp /tmp/stop.data "$MNT/before-stop" || fail "before-stop changed"
  cmp /tmp/stop.data "$MNT/during-stop" || fail "during-stop changed"
  sum=$(sha256sum </tmp/stop.data | cut -c1-64)
  printf '%s  before-stop\n%s  during-stop\n' "$sum" "$sum" >>/persist/all.sums
  sync /persist/all.sums
  echo "usbd served on while stopping, stopped cleanly after the umount;" \
    "both files intact after a new start"

  step "a writer again, then a power cut (the host kills qemu)"
  : >/tmp/written.sums
  start_writer power
  wait_for 60 "the writer fsyncs" lines_ge /persist/synced.sums 3 power/
  sleep 2
  echo "$(wc -l </persist/synced.sums) files fsynced so far"
  step "$(($(date +%s) - START)) s in boot 1"
  echo "$RESET_MARKER"
  sleep 600
  fail "the host did not kill the VM"
fi

# boot2: systemd started usbd (cache recovery) and mounted the file system.
step "boot2: usbd recovered its cache; the mount"
log=$(usbd_log "$PID")
grep -E "dirty blocks queued|token|created" <<<"$log" | sed 's/^/  | /' || true
wait_for 120 "$MOUNT_UNIT active" unit_active "$MOUNT_UNIT"
[ "$(mounted_dev)" = "$DEV" ] || fail "$MNT is not $DEV"
dmesg | grep -i 'EXT4-fs (nbd0)' | sed 's/^/  | /' || true
fsck_clean
check_sums /persist/synced.sums
check_sums /persist/all.sums
echo "$(wc -l </persist/synced.sums) fsynced files intact" \
  "($(grep -c power/ /persist/synced.sums) from the writer of the power cut)," \
  "$(wc -l </persist/all.sums) files of boot 1 intact; e2fsck clean"
# A file in the page cache only, then a clean shutdown (run_vm.sh's job
# ends with `systemctl poweroff`): systemd unmounts /srv/data before it
# stops usbd, which uploads everything. The host then reads the volume
# from nginx alone.
head -c $((4 << 20)) /dev/urandom >"$MNT/at-shutdown"
echo "$(sha256sum <"$MNT/at-shutdown" | cut -c1-64)  at-shutdown" \
  >"$VM_OUT/at-shutdown.sums"
step "PASS ($FSCKS e2fsck -fn clean); now a clean shutdown"
