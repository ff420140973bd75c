#!/bin/bash
# make check: an s3backer user's NBD setup with usbd in place of s3backer,
# under real systemd in the VM. On the host, Debian's s3backer writes an
# ext4 file system (mkfs + files, through its FUSE file and a loop mount)
# into moto_server. In the VM, the shipped usbd-nbd@.service runs usbd with
# an options file in s3backer's one-flag-per-line format (s3backer's NBD
# settings, obsolete flags included, and no --size or --blockSize: they
# come from s3backer's blocks), and the shipped fstab line mounts
# /dev/nbd0. The scenario checks every file s3backer wrote, writes one
# more, and the VM shuts down cleanly; then the store alone, read on the
# host, holds a clean file system with all the files. About 3 minutes.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../integration/lib.sh"
source "$HERE/../integration/servers.sh"
source "$HERE/unit_rootfs.sh"
require_tool s3backer
require_tool fusermount
require_tool mkfs.ext4
require_tool nbdcopy
[ -c /dev/fuse ] || {
  echo "SKIP: $TEST_NAME: no /dev/fuse for s3backer" >&2
  exit 77
}
require_moto
start_moto
moto_create_bucket s3b

# 1. s3backer, as its user ran it: a file system with files in it.
mkdir -p "$TMP/s3b" "$TMP/fs"
s3backer -f --size=128M --blockSize=64k --region=us-east-1 \
  --baseURL="http://localhost:$MOTO_PORT/" --accessFile="$MOTO_ACCESS_FILE" \
  s3b "$TMP/s3b" >>"$TMP/s3backer.log" 2>&1 &
S3B_PID=$!
on_exit "umount $TMP/fs; fusermount -u $TMP/s3b; kill $S3B_PID"
for ((i = 0; i < 200; i++)); do
  [ -e "$TMP/s3b/file" ] && break
  kill -0 $S3B_PID 2>/dev/null || fail "s3backer exited: $(tail -n 3 "$TMP/s3backer.log")"
  sleep 0.1
done
[ -e "$TMP/s3b/file" ] || fail "s3backer did not mount within 20 s"
mkfs.ext4 -q -F "$TMP/s3b/file" || fail "mkfs.ext4 on s3backer's file"
mount -o loop "$TMP/s3b/file" "$TMP/fs" || fail "loop mount of s3backer's file"
mkdir "$TMP/fs/docs"
for i in $(seq 1 12); do
  head -c $((i * 37000)) /dev/urandom >"$TMP/fs/docs/f$i"
done
(cd "$TMP/fs" && sha256sum docs/*) >"$TMP/s3backer.sums"
umount "$TMP/fs"
fusermount -u "$TMP/s3b"
wait $S3B_PID || fail "s3backer exited with an error"
echo "s3backer stored $(moto_list_keys s3b | wc -l) objects"

# 2. The administrator's change: the program name in the unit's command.
ROOTFS=$TMP/rootfs
unit_rootfs "$ROOTFS"
install -m 600 "$MOTO_ACCESS_FILE" "$ROOTFS/etc/usbd/s3.passwd"
cat >"$ROOTFS/etc/usbd/nbd0.conf" <<EOF
# s3backer's NBD settings (README_nbd.md), one flag per line
--baseURL=http://10.0.2.2:$MOTO_PORT/
--region=us-east-1
--accessFile=/etc/usbd/s3.passwd
--listBlocks
--listBlocksThreads=8
--blockCacheSize=2000
--blockCacheFile=/persist/nbd0.cache
--blockCacheWriteDelay=1000
--blockCacheThreads=4
--blockCacheRecoverDirtyBlocks
--timeout=90
--md5CacheSize=0
--minWriteDelay=0
EOF
echo "USBD_VOLUME=s3b" >"$ROOTFS/etc/usbd/nbd0.env"
cp "$TMP/s3backer.sums" "$ROOTFS/etc/usbd/s3backer.sums"
truncate -s 256M "$TMP/disk.img"
mkfs.ext4 -q -F "$TMP/disk.img" || fail "mkfs.ext4 on the disk image"

export VM_TIMEOUT=${VM_TIMEOUT:-420} VM_MEMORY=${VM_MEMORY:-1024}
status=0
VM_KEEP="$TMP/out" bash "$HERE/run_vm.sh" --net --disk "$TMP/disk.img" \
  --systemd "$ROOTFS" "$HERE/s3backer_dropin_scenario.sh" || status=$?
[ $status -ne 77 ] || exit 77
[ $status -eq 0 ] || fail "the VM scenario failed (status $status)"

# 3. The store alone: a clean file system with s3backer's files and usbd's.
[ -s "$TMP/out/usbd.sums" ] || fail "the VM left no usbd.sums"
start_usbd --baseURL="$MOTO_ENDPOINT/" --accessFile="$MOTO_ACCESS_FILE" \
  --readOnly s3b
nbdcopy "$URI" "$TMP/volume.img" || fail "nbdcopy of the volume"
stop_usbd
e2fsck -fn "$TMP/volume.img" || fail "the volume in the store is not clean"
mount -o loop,ro "$TMP/volume.img" "$TMP/fs" || fail "loop mount of the volume"
(cd "$TMP/fs" && sha256sum --quiet -c "$TMP/s3backer.sums") ||
  fail "s3backer's files differ after usbd served them"
(cd "$TMP/fs" && sha256sum --quiet -c "$TMP/out/usbd.sums") ||
  fail "the file written through usbd in the VM differs"
umount "$TMP/fs"
echo "PASS: $TEST_NAME"
