#!/bin/bash
# Runs inside the VM under systemd (tests/vm/s3backer_dropin.sh): the
# shipped unit serves s3backer's volume from moto on the host with an
# s3backer-format options file; the shipped fstab line mounts it. Checks
# s3backer's files, writes one more (its sum goes to $VM_OUT/usbd.sums);
# the clean shutdown that follows stops the mount, then usbd.
set -euo pipefail
UNIT=usbd-nbd@nbd0.service
MOUNT_UNIT=srv-data.mount
MNT=/srv/data
fail() {
  echo "FAIL: $*"
  systemctl --no-pager status "$UNIT" "$MOUNT_UNIT" 2>&1 | tail -n 20 || true
  journalctl --no-pager -b -o short-monotonic -u "$UNIT" -u "$MOUNT_UNIT" \
    2>&1 | tail -n 60 || true
  exit 1
}
active() { [ "$(systemctl show -p ActiveState --value "$1")" = active ]; }
wait_active() {  # UNIT SECONDS
  local i
  for ((i = 0; i < $2 * 2; i++)); do
    active "$1" && return 0
    sleep 0.5
  done
  fail "$1 not active within $2 s"
}
[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is not systemd"
wait_active "$UNIT" 120
wait_active "$MOUNT_UNIT" 120
journalctl --no-pager -o cat -u "$UNIT" | sed 's/^/  | /'
journalctl --no-pager -o cat -u "$UNIT" |
  grep -q "adopted s3backer's volume s3b: size 128M, block size 64k" ||
  fail "usbd did not adopt s3backer's volume from its blocks"
journalctl --no-pager -o cat -u "$UNIT" | grep -q "512-byte sectors" ||
  fail "s3backer's volume (an ext4 with 1 KiB blocks) needs 512-byte sectors"
journalctl --no-pager -o cat -u "$UNIT" |
  grep -q "md5CacheSize: s3backer's option, accepted and ignored" ||
  fail "no notice for s3backer's --md5CacheSize"
(cd "$MNT" && sha256sum --quiet -c /etc/usbd/s3backer.sums) ||
  fail "s3backer's files differ through usbd"
echo "s3backer's $(wc -l </etc/usbd/s3backer.sums) files: intact"
head -c $((3 << 20)) /dev/urandom >"$MNT/written-by-usbd"
sync "$MNT/written-by-usbd"
(cd "$MNT" && sha256sum written-by-usbd) >"$VM_OUT/usbd.sums"
echo "S3BACKER-DROPIN-OK"
