#!/bin/bash
# make check: crash recovery under real systemd, with the shipped unit
# (contrib/usbd-nbd@.service, enabled) and the shipped fstab line
# (contrib/fstab.example), over an HTTP store (nginx with dav, on the host,
# reached from the VM at 10.0.2.2), the cache file on a persistent disk.
# Boot 1: kill -9 usbd under a writer, several times (systemd restarts it,
# the mount stays), fsck, `systemctl stop` with the file system mounted; then
# a power cut (qemu killed) under a writer. Boot 2: systemd recovers, fsck,
# every fsynced file intact; then a clean shutdown, after which the store
# alone (read on the host) holds a clean file system with every file. See
# systemd_crash_scenario.sh and run_vm.sh. About 5 minutes.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../integration/lib.sh"
source "$HERE/../integration/servers.sh"
source "$HERE/unit_rootfs.sh"
require_nginx
require_tool mkfs.ext4
start_nginx_dav

# What an administrator does (usbd(8), EXAMPLES): install usbd and the unit,
# write nbd0.conf and nbd0.env, enable the unit, add the fstab line.
ROOTFS=$TMP/rootfs
unit_rootfs "$ROOTFS"
cat >"$ROOTFS/etc/usbd/nbd0.conf" <<EOF
[usbd]
httpStore = true
baseURL = http://10.0.2.2:$NGINX_PORT/
size = 256M
blockSize = 64k
blockCacheFile = /persist/nbd0.cache
blockCacheSize = 4096
# Blocks stay dirty for 10 s: a kill -9 just after an fsync finds some.
blockCacheWriteDelay = 10000
EOF
echo "USBD_VOLUME=vm/vol1" >"$ROOTFS/etc/usbd/nbd0.env"

# The persistent disk (/persist in the VM): the cache file, and the list of
# fsynced files, survive the power cut.
truncate -s 512M "$TMP/disk.img"
mkfs.ext4 -q -F "$TMP/disk.img" || fail "mkfs.ext4 on the disk image"

# TCG boots of systemd take a minute or more on a loaded machine.
export VM_TIMEOUT=${VM_TIMEOUT:-420} VM_MEMORY=${VM_MEMORY:-1024}
run() {  # PHASE [run_vm.sh options]
  local phase=$1 status=0
  shift
  bash "$HERE/run_vm.sh" --net --disk "$TMP/disk.img" --systemd "$ROOTFS" \
    "$@" "$HERE/systemd_crash_scenario.sh" "$phase" || status=$?
  [ $status -ne 77 ] || exit 77
  [ $status -eq 0 ] || fail "$phase failed (status $status)"
}
run boot1 --kill-on USBD-VM-RESET-NOW
echo "--- the host killed qemu; nginx holds $(find "$NGINX_ROOT" -type f |
  wc -l) objects"
VM_KEEP="$TMP/boot2" run boot2

# After boot 2's clean shutdown the store alone (no cache) must hold a
# clean file system with every file: systemd unmounted it before it
# stopped usbd, and usbd uploaded every block before it exited.
echo "--- the store alone, read on the host"
[ -s "$TMP/boot2/at-shutdown.sums" ] || fail "boot 2 left no at-shutdown.sums"
require_tool nbdcopy debugfs
start_usbd --httpStore --baseURL="$NGINX_URL" --readOnly vm/vol1
nbdcopy "$URI" "$TMP/volume.img" || fail "nbdcopy of the volume"
stop_usbd
e2fsck -fn "$TMP/volume.img" || fail "the volume in the store is not clean"
mkdir "$TMP/files"
debugfs -R "rdump / $TMP/files" "$TMP/volume.img" 2>/dev/null
for list in synced.sums all.sums; do
  debugfs -R "cat /$list" "$TMP/disk.img" 2>/dev/null >"$TMP/$list"
done
cat "$TMP/synced.sums" "$TMP/all.sums" "$TMP/boot2/at-shutdown.sums" \
  >"$TMP/expected.sums"
(cd "$TMP/files" && sha256sum --quiet -c "$TMP/expected.sums") ||
  fail "files in the store differ"
echo "the store holds a clean file system with all $(sort -u -k2 \
  "$TMP/expected.sums" | wc -l) files (the last one written just before" \
  "the shutdown)"
echo "PASS: crash restarts, a power cut and a clean shutdown under systemd"
