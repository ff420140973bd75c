#!/bin/bash
# s3backer's buckets, served in place. Debian's real s3backer (1.5.4) writes
# through its FUSE file into an S3 server (moto_server or radosgw, as
# S3_SERVER says: servers.sh, start_s3) in four modes: plain block names,
# --blockHashPrefix, --compress (deflate) and --encrypt (deflate + its
# AES-128-CBC with HMAC-SHA1). Then, for each bucket, with the same options:
#   - usbd never creates a volume over it: s3backer's block headers give
#     the geometry, so a wrong --blockSize is refused and writes nothing,
#     and s3backer's own command line (no --size, no --force) adopts it and
#     serves every byte s3backer wrote (cmp);
#   - usbd's own writes read back after a restart;
#   - while usbd has the volume, s3backer refuses to mount it; once usbd
#     stops, s3backer mounts it again and reads every byte usbd wrote (the
#     blocks stay in s3backer's format); while s3backer has it, usbd
#     refuses.
# A wrong password is refused at start, and a block s3backer encrypted and
# someone changed is an EIO, never data. And s3backer's own options file
# format runs usbd unchanged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"

require_tool s3backer
require_tool nbdcopy
require_nbd_py
require_tool fusermount
[ -c /dev/fuse ] || {
  echo "SKIP: $TEST_NAME: no /dev/fuse for s3backer" >&2
  exit 77
}
require_s3
start_s3

SIZE=$((4 * 1024 * 1024))
BS=65536
S3=(--baseURL="$S3_ENDPOINT/" --accessFile="$S3_ACCESS_FILE")

# s3backer_mount BUCKET MNT [ARGS...]: s3backer in the foreground (in the
# background of this script), until its file appears; sets S3B_PID.
s3backer_mount() {
  local bucket=$1 mnt=$2
  shift 2
  mkdir -p "$mnt"
  s3backer -f --size=$SIZE --blockSize=$BS --region=us-east-1 \
    --baseURL="http://localhost:$S3_PORT/" --accessFile="$S3_ACCESS_FILE" \
    "$@" "$bucket" "$mnt" >>"$TMP/s3backer.log" 2>&1 &
  S3B_PID=$!
  on_exit "fusermount -u $mnt; kill $S3B_PID"
  local i
  for ((i = 0; i < 200; i++)); do
    [ -e "$mnt/file" ] && return 0
    kill -0 $S3B_PID 2>/dev/null ||
      fail "s3backer $* $bucket exited during start: $(tail -n 3 "$TMP/s3backer.log")"
    sleep 0.1
  done
  fail "s3backer did not mount $mnt within 20 s"
}

s3backer_unmount() {  # MNT: unmount and wait for s3backer to finish uploading
  fusermount -u "$1" || fail "cannot unmount $1"
  local status=0
  wait "$S3B_PID" || status=$?
  [ $status -eq 0 ] || fail "s3backer exited with status $status"
}

# s3backer_refused BUCKET MNT [ARGS...]: s3backer must not mount it.
s3backer_refused() {
  local bucket=$1 mnt=$2
  shift 2
  mkdir -p "$mnt"
  local status=0
  timeout 30 s3backer -f --size=$SIZE --blockSize=$BS --region=us-east-1 \
    --baseURL="http://localhost:$S3_PORT/" --accessFile="$S3_ACCESS_FILE" \
    "$@" "$bucket" "$mnt" >"$TMP/s3b-refused.out" 2>&1 || status=$?
  cat "$TMP/s3b-refused.out" >>"$TMP/s3backer.log"
  if [ $status -eq 0 ] || [ $status -eq 124 ]; then
    fusermount -u "$mnt" 2>/dev/null || true
    fail "s3backer mounted $bucket while usbd had it (status $status)"
  fi
  grep -qi "mounted" "$TMP/s3b-refused.out" ||
    fail "s3backer failed for another reason: $(cat "$TMP/s3b-refused.out")"
}

# What s3backer writes: 1 MiB at 0, 320 KiB at 2.5 MiB (blocks 40-44); the
# rest stays zero (no objects). The same bytes go into $TMP/expected.
make_random_file "$TMP/part1" $((1024 * 1024)) 11
make_random_file "$TMP/part2" $((320 * 1024)) 12
truncate -s $SIZE "$TMP/expected"
dd if="$TMP/part1" of="$TMP/expected" conv=notrunc status=none
dd if="$TMP/part2" of="$TMP/expected" bs=$BS seek=40 conv=notrunc status=none

run_mode() {  # LABEL BUCKET [OPTIONS OF BOTH...]
  local label=$1 bucket=$2
  shift 2
  echo "=== s3backer $label ==="
  s3_create_bucket "$bucket"
  local mnt="$TMP/mnt-$bucket"
  s3backer_mount "$bucket" "$mnt" "$@"
  dd if="$TMP/part1" of="$mnt/file" conv=notrunc,fsync status=none
  dd if="$TMP/part2" of="$mnt/file" bs=$BS seek=40 conv=notrunc,fsync \
    status=none
  s3backer_unmount "$mnt"
  s3_list_keys "$bucket" >"$TMP/keys-s3backer"
  [ "$(wc -l <"$TMP/keys-s3backer")" -eq 21 ] ||
    fail "s3backer $label stored $(wc -l <"$TMP/keys-s3backer") objects, expected 21 blocks: $(head -3 "$TMP/keys-s3backer")"

  # No usbd metadata: never a new volume over s3backer's blocks. Their
  # headers give the geometry, so a wrong --blockSize is refused...
  refused "$TMP/create.out" "${S3[@]}" --size=$SIZE --blockSize=$((2 * BS)) \
    "$@" "$bucket"
  grep -q "record size 4M, block size 64k" "$TMP/create.out" ||
    fail "usbd over s3backer's $label bucket: $(cat "$TMP/create.out")"
  s3_list_keys "$bucket" | cmp -s - "$TMP/keys-s3backer" ||
    fail "a refused usbd wrote to the bucket"

  # ...and the same command line as s3backer's, without --size, adopts it:
  # every byte as s3backer wrote it.
  start_named a "${S3[@]}" "$@" "$bucket"
  nbdcopy "$a_URI" "$TMP/served"
  cmp "$TMP/expected" "$TMP/served" ||
    fail "usbd serves other bytes than s3backer wrote ($label)"
  grep -q "adopted s3backer's volume $bucket: size 4M, block size 64k" \
    "$TMP/usbd.log" || fail "usbd did not say it adopted s3backer's volume"

  # While usbd has it, s3backer must refuse it.
  s3backer_refused "$bucket" "$mnt" "$@"

  # usbd writes; a restart (no --force: the metadata is there now) reads it.
  # (nbd_op writes the bytes its file has at that offset.)
  make_random_file "$TMP/patch" $((3 * BS)) 13
  dd if="$TMP/patch" of="$TMP/expected" bs=1 seek=$((20 * BS + 100)) \
    conv=notrunc status=none
  [ "$(nbd_op "$a_URI" write $((20 * BS + 100)) $((3 * BS)) "$TMP/expected")" = ok ] ||
    fail "write through usbd failed"
  stop_named a
  grep -q "s3backer-mounted" <<<"$(s3_list_keys "$bucket")" &&
    fail "usbd left s3backer's mounted flag behind after a clean stop"
  start_named a "${S3[@]}" "$@" "$bucket"
  nbdcopy "$a_URI" "$TMP/served"
  cmp "$TMP/expected" "$TMP/served" || fail "usbd's writes did not survive"
  stop_named a

  # s3backer mounts it again once usbd has stopped and reads usbd's writes;
  # while it has it, usbd refuses.
  s3backer_mount "$bucket" "$mnt" "$@"
  cmp "$TMP/expected" "$mnt/file" ||
    fail "s3backer reads other bytes than usbd wrote ($label)"
  refused "$TMP/busy.out" "${S3[@]}" "$@" "$bucket"
  grep -q "mounted by s3backer on" "$TMP/busy.out" ||
    fail "usbd while s3backer has the volume: $(cat "$TMP/busy.out")"
  s3backer_unmount "$mnt"
  # Restore the expected image for the next mode.
  truncate -s 0 "$TMP/expected"
  truncate -s $SIZE "$TMP/expected"
  dd if="$TMP/part1" of="$TMP/expected" conv=notrunc status=none
  dd if="$TMP/part2" of="$TMP/expected" bs=$BS seek=40 conv=notrunc \
    status=none
}

run_mode "plain names" plain
run_mode "--blockHashPrefix" hashed --blockHashPrefix

run_mode "--compress" deflated --compress
printf 's3backer password\n' >"$TMP/s3b-password"
printf 'not the password\n' >"$TMP/wrong-password"
chmod 600 "$TMP/s3b-password" "$TMP/wrong-password"
run_mode "--encrypt" encrypted --encrypt --passwordFile="$TMP/s3b-password"

# The password is checked on a stored block at start: a wrong one is
# refused there, with one clear line, and writes nothing.
echo "=== wrong password, changed block ==="
s3_list_keys encrypted >"$TMP/keys-before"
refused "$TMP/wrong.out" "${S3[@]}" --encrypt \
  --passwordFile="$TMP/wrong-password" encrypted
grep -q "wrong password" "$TMP/wrong.out" ||
  fail "usbd with a wrong s3backer password: $(cat "$TMP/wrong.out")"
# Without --encrypt, s3backer's encrypted blocks are not served as data.
start_named a "${S3[@]}" encrypted
expect_op EIO "$a_URI" read 0 $BS
stop_named a
# A block s3backer encrypted, with one byte changed in the store (its
# headers kept): an EIO on read, not data.
key=00000001
grep -qx "$key" "$TMP/keys-before" || fail "no object $key in bucket encrypted"
s3_tamper_object encrypted "$key"
start_named a "${S3[@]}" --encrypt --passwordFile="$TMP/s3b-password" \
  --maxRetryPause=500 encrypted
expect_op EIO "$a_URI" read $BS $BS
expect_op ok "$a_URI" read $((40 * BS)) $BS
stop_named a

# s3backer's options file (README_nbd.md's settings, in its one-argument-
# per-line format, with the obsolete flags old configurations carry) runs
# usbd unchanged; only --baseURL points at the test's server instead of
# --ssl at AWS.
echo "=== s3backer's options file ==="
s3_create_bucket conf
printf 'conf password\n' >"$TMP/password"
chmod 600 "$TMP/password"
cat >"$TMP/s3backer.conf" <<CONF
# as in s3backer's NBD documentation
--size=$SIZE
--blockSize=$BS
--baseURL=$S3_ENDPOINT/
--accessFile=$S3_ACCESS_FILE
--listBlocks
--listBlocksThreads=50
--encrypt
--passwordFile=$TMP/password

--blockCacheSize=20
--blockCacheFile=$TMP/conf.cache
--blockCacheWriteDelay=15000
--blockCacheThreads=4
--blockCacheRecoverDirtyBlocks
--blockCacheNumProtected=2
--timeout=90
--md5CacheSize=0
--md5CacheTime=0
--minWriteDelay=0
conf
CONF
start_named c --configFile="$TMP/s3backer.conf"
grep -q "blockCacheRecoverDirtyBlocks: s3backer's option, accepted and ignored" \
  "$TMP/usbd.log" || fail "no notice for --blockCacheRecoverDirtyBlocks"
nbdcopy "$TMP/expected" "$c_URI" || fail "nbdcopy into usbd failed"
stop_named c
start_named c --configFile="$TMP/s3backer.conf"
nbdcopy "$c_URI" "$TMP/served"
cmp "$TMP/expected" "$TMP/served" ||
  fail "usbd run from s3backer's options file lost data across a restart"
stop_named c
grep -q usbd-volume <<<"$(s3_list_keys conf)" ||
  fail "the options file's run made no volume in bucket conf"
# s3backer's cipher names are its format: refused on a volume of usbd's.
refused "$TMP/cbc.out" --configFile="$TMP/s3backer.conf" --encrypt=AES-128-CBC
grep -q "encrypt=AES-128-CBC is s3backer's format" "$TMP/cbc.out" ||
  fail "--encrypt=AES-128-CBC on usbd's volume: $(cat "$TMP/cbc.out")"
echo "PASS: $TEST_NAME"
