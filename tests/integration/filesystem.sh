#!/bin/bash
# A real filesystem on usbd: nbdfuse exposes the volume as a file, mkfs.ext4
# formats it, the kernel mounts it (-o loop), files with known checksums are
# written; then everything is unmounted, usbd stopped with SIGTERM (exit 0)
# and started again on the same store; fsck must find the filesystem clean
# and every file must read back with its checksum.
# The store is a --test directory, or with FS_STORE=s3 a bucket on the S3
# server S3_SERVER names (servers.sh, start_s3).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_tool nbdfuse mkfs.ext4 fsck.ext4 mount umount fusermount3 \
  sha256sum openssl
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: $TEST_NAME needs root (mount -o loop)" >&2
  exit 77
fi
if [ ! -c /dev/fuse ] || [ ! -e /dev/loop-control ]; then
  echo "SKIP: $TEST_NAME needs /dev/fuse and loop devices" >&2
  exit 77
fi

MIB=$((1024 * 1024))
SIZE=$((256 * MIB))
FUSE="$TMP/fuse"
DISK="$FUSE/disk"
MNT="$TMP/mnt"
mkdir "$TMP/store" "$FUSE" "$MNT"
case ${FS_STORE:-dir} in
  dir) STORE=(--test "$TMP/store") ;;
  s3)
    require_s3
    start_s3
    s3_create_bucket fsvol
    STORE=("${S3_ARGS[@]}" fsvol) ;;
  *) fail "FS_STORE=$FS_STORE: expected dir or s3" ;;
esac

# Cleanup runs in reverse order: filesystem, FUSE mount, then nbdfuse.
on_exit '[ -z "$NBDFUSE_PID" ] || kill $NBDFUSE_PID'
on_exit "fusermount3 -uz '$FUSE'"
on_exit "umount -l '$MNT'"

# make_random_file's pipeline ends with openssl killed by SIGPIPE, which
# pipefail turns into a failure: accept it when the file is complete.
random_file() {  # FILE SIZE SEED
  make_random_file "$@" || true
  [ "$(stat -c %s "$1")" -eq "$2" ] || fail "could not create $1"
}

NBDFUSE_PID=
fuse_up() {
  rm -f "$TMP/nbdfuse.pid"
  nbdfuse -P "$TMP/nbdfuse.pid" "$DISK" "$URI" >>"$TMP/nbdfuse.log" 2>&1 &
  NBDFUSE_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    [ -s "$TMP/nbdfuse.pid" ] && [ -f "$DISK" ] && return 0
    kill -0 $NBDFUSE_PID 2>/dev/null ||
      fail "nbdfuse exited: $(tail -n 5 "$TMP/nbdfuse.log")"
    sleep 0.05
  done
  fail "nbdfuse did not come up"
}
fuse_down() {
  fusermount3 -u "$FUSE" || fail "fusermount3 -u failed"
  wait $NBDFUSE_PID || fail "nbdfuse exited with status $?"
  NBDFUSE_PID=
}

# --- first life: format, fill, unmount, stop ---
start_usbd --size=$SIZE "${STORE[@]}"
fuse_up
[ "$(stat -c %s "$DISK")" -eq $SIZE ] ||
  fail "nbdfuse file has size $(stat -c %s "$DISK"), expected $SIZE"
mkfs.ext4 -q -F -E nodiscard "$DISK" >/dev/null || fail "mkfs.ext4 failed"
mount -o loop "$DISK" "$MNT" || fail "mount -o loop failed"

mkdir -p "$MNT/a/b/c"
random_file "$MNT/big.bin" $((40 * MIB)) 1
random_file "$MNT/a/medium.bin" $((3 * MIB + 12345)) 2
random_file "$MNT/a/b/c/small.bin" 777 3
for i in $(seq 1 200); do
  echo "file $i" >"$MNT/a/b/many-$i.txt"
done
dd if=/dev/zero of="$MNT/zeros.bin" bs=1M count=8 status=none
(cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
  >"$TMP/sums"
[ "$(wc -l <"$TMP/sums")" -eq 204 ] || fail "expected 204 files written"
rm "$MNT/a/b/many-7.txt"  # a delete must persist too
grep -v 'many-7.txt' "$TMP/sums" >"$TMP/sums.final"

sync
umount "$MNT" || fail "umount failed"
fuse_down
stop_usbd  # SIGTERM, exit 0

# --- second life: same store, fresh process ---
start_usbd --size=$SIZE "${STORE[@]}"
fuse_up
fsck.ext4 -f -n "$DISK" >"$TMP/fsck.out" 2>&1 ||
  { cat "$TMP/fsck.out" >&2; fail "fsck found errors after a restart"; }
mount -o loop "$DISK" "$MNT" || fail "mount after restart failed"
(cd "$MNT" && sha256sum --quiet -c "$TMP/sums.final") ||
  fail "file checksums differ after a restart"
[ ! -e "$MNT/a/b/many-7.txt" ] || fail "a deleted file came back"
umount "$MNT" || fail "umount failed"
fuse_down
stop_usbd
echo "PASS: $TEST_NAME"
