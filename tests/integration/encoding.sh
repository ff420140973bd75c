#!/bin/bash
# Compression and encryption end to end (issue 5), with the real binary and
# real NBD clients, over the --test directory store (and S3, on moto_server
# or radosgw as S3_SERVER says, when one is installed):
#  1. Round trip (nbdcopy + cmp) with each combination: none, --compress,
#     --encrypt, both; the volume metadata records the settings; a restart
#     without --size or --blockSize detects the geometry and reads the same.
#  2. The stored block files of an encrypted volume do not contain a known
#     plaintext pattern (grep -c); compression stores less.
#  3. A wrong password is refused at start with one clear line (no secret),
#     before the socket exists; --passwordEnv and --password work, and
#     --password is scrubbed from /proc/PID/cmdline with a warning.
#  4. A run with other settings than the volume's is refused saying which;
#     --force switches compression (old blocks stay readable).
#  5. A tampered, truncated, swapped or replayed-from-another-volume block
#     file: reading that block is EIO (qemu-io fails) and the log names the
#     block; the other blocks still read the same.
#  6. --memory with both layers; S3 with both layers, the bucket holding no
#     plaintext (skipped, loudly, without an S3 server).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_tool nbdcopy nbdinfo qemu-io openssl cmp
# libnbd's Python module reads single blocks (the python3 first in PATH may
# be another one than the distribution's, which has it).
PYTHON_NBD=
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import nbd' 2>/dev/null; then
    PYTHON_NBD=$py
    break
  fi
done
if [ -z "$PYTHON_NBD" ]; then
  echo "SKIP: $TEST_NAME needs libnbd's Python module (python3-libnbd)" >&2
  exit 77
fi

KIB=1024
MIB=$((1024 * KIB))
BS=$((64 * KIB))
SIZE=$((8 * MIB))
PATTERN="USBD-KNOWN-PLAINTEXT-2f9c41e7-do-not-store-me"
PASSWORD="correct horse battery staple"
WRONG="Tr0ub4dor-not-the-password"
# Block files are named by 8 hex digits; usbd-volume is the metadata.
BLOCKS='[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'

# 2 MiB of the pattern (blocks 0..31), 4 MiB random (32..95), 2 MiB of
# zeros (96..127, never stored).
{
  yes "$PATTERN" | head -c $((2 * MIB)) || true
  make_random_file "$TMP/random.raw" $((4 * MIB)) 51 || true
  cat "$TMP/random.raw"
  head -c $((2 * MIB)) /dev/zero
} >"$TMP/in.raw"
[ "$(stat -c %s "$TMP/in.raw")" -eq $SIZE ] || fail "cannot make in.raw"
printf '%s\nthe second line is not part of it\n' "$PASSWORD" >"$TMP/pw"
printf '%s\n' "$WRONG" >"$TMP/wrong"
chmod 600 "$TMP/pw" "$TMP/wrong"

ARGS=()
mode_args() {  # MODE: sets ARGS
  case $1 in
    none) ARGS=() ;;
    compress) ARGS=(--compress=3) ;;
    encrypt) ARGS=(--encrypt --passwordFile="$TMP/pw") ;;
    both) ARGS=(--compress --encrypt --passwordFile="$TMP/pw") ;;
  esac
}

store() { echo "$TMP/store-$1"; }

# stored_bytes DIR: the total size of its block files.
stored_bytes() {
  local total=0 f
  for f in "$1"/$BLOCKS; do
    [ -e "$f" ] || continue
    total=$((total + $(stat -c %s "$f")))
  done
  echo $total
}

# pattern_count DIR: lines of the block files that contain the pattern.
pattern_count() {
  cat "$1"/$BLOCKS | grep -c -a -F "$PATTERN" || true
}

# expect_start_failure PATTERN ARGS...: usbd must exit 1 at start without
# serving, its error line matching the extended regex PATTERN and showing
# no password.
expect_start_failure() {
  local pattern=$1 status=0
  shift
  rm -f "$TMP/fail.sock"
  "$USBD" -f --listen="unix:$TMP/fail.sock" "$@" >"$TMP/fail.log" 2>&1 ||
    status=$?
  [ $status -eq 1 ] ||
    fail "usbd $* exited $status, expected 1: $(cat "$TMP/fail.log")"
  [ ! -e "$TMP/fail.sock" ] || fail "usbd $* listened before failing"
  grep -E -e "error: .*$pattern" "$TMP/fail.log" >/dev/null ||
    fail "usbd $*: expected /$pattern/, got: $(cat "$TMP/fail.log")"
  ! grep -q -F -e "$PASSWORD" -e "$WRONG" "$TMP/fail.log" ||
    fail "usbd $*: a message shows the password"
}

# read_block N: block N's bytes on stdout (fails on a read error).
read_block() {
  "$PYTHON_NBD" -c '
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
sys.stdout.buffer.write(h.pread(int(sys.argv[2]), int(sys.argv[3])))
' "$URI" $BS $(($1 * BS))
}
expected_block() {
  dd if="$TMP/in.raw" bs=$BS skip="$1" count=1 status=none
}

# --- 1 and 2. Round trips with each combination ----------------------------
for mode in none compress encrypt both; do
  mode_args $mode
  dir=$(store $mode)
  start_usbd --test --size=$SIZE --blockSize=64k "${ARGS[@]}" "$dir"
  nbdcopy --flush "$TMP/in.raw" "$URI" || fail "$mode: nbdcopy to usbd failed"
  nbdcopy "$URI" "$TMP/out.raw" || fail "$mode: nbdcopy from usbd failed"
  cmp "$TMP/in.raw" "$TMP/out.raw" || fail "$mode: round trip changed data"
  stop_usbd

  meta="$dir/usbd-volume"
  [ -f "$meta" ] || fail "$mode: no volume metadata file $meta"
  codec=none cipher=none
  case $mode in compress | both) codec=zstd ;; esac
  case $mode in encrypt | both) cipher=aes-256-gcm ;; esac
  grep -qx "codec=$codec" "$meta" || fail "$mode: metadata: $(cat "$meta")"
  grep -qx "cipher=$cipher" "$meta" || fail "$mode: metadata: $(cat "$meta")"
  if [ $cipher = none ]; then
    ! grep -q '^kdf' "$meta" || fail "$mode: key material without a cipher"
  else
    grep -q '^kdf=scrypt:' "$meta" && grep -q '^kdf_salt=' "$meta" &&
      grep -q '^key_check=' "$meta" || fail "$mode: no key material: $(cat "$meta")"
  fi
  ! grep -q -F "$PASSWORD" "$meta" || fail "$mode: the password is in $meta"

  files=$(ls "$dir" | grep -c -x "$BLOCKS" || true)
  [ "$files" -eq 96 ] || fail "$mode: $files block files, expected 96"
  count=$(pattern_count "$dir")
  bytes=$(stored_bytes "$dir")
  echo "$mode: $files block files, $bytes bytes stored, pattern found $count times"
  case $mode in
    none)
      [ "$count" -gt 0 ] || fail "none: the test pattern is not found"
      [ "$bytes" -eq $((96 * BS)) ] || fail "none: $bytes bytes stored" ;;
    compress)
      [ "$bytes" -lt $((5 * MIB)) ] || fail "compress: $bytes bytes stored" ;;
    encrypt | both)
      [ "$count" -eq 0 ] || fail "$mode: the plaintext is in the block files" ;;
  esac

  # Restart without --size or --blockSize: the volume says.
  start_usbd --test "${ARGS[@]}" "$dir"
  [ "$(nbdinfo --size "$URI")" = $SIZE ] || fail "$mode: size not detected"
  grep -q "serving .*64 KiB blocks" "$TMP/usbd.log" ||
    fail "$mode: block size not detected"
  nbdcopy "$URI" "$TMP/out.raw" || fail "$mode: nbdcopy after restart failed"
  cmp "$TMP/in.raw" "$TMP/out.raw" || fail "$mode: data changed across restart"
  stop_usbd
done

# --- 3. Passwords ----------------------------------------------------------
expect_start_failure "wrong password" \
  --test --encrypt --passwordFile="$TMP/wrong" "$(store encrypt)"
expect_start_failure "--passwordEnv: environment variable USBD_NO_SUCH_VAR" \
  --test --encrypt --passwordEnv=USBD_NO_SUCH_VAR "$(store encrypt)"
status=0
"$USBD" --test --encrypt "$(store encrypt)" >/dev/null 2>"$TMP/err" || status=$?
[ $status -eq 1 ] && grep -q -- "--encrypt needs a password" "$TMP/err" ||
  fail "--encrypt without a password: status $status, $(cat "$TMP/err")"
status=0
"$USBD" --test --passwordFile="$TMP/pw" "$(store none)" >/dev/null \
  2>"$TMP/err" || status=$?
[ $status -eq 1 ] && grep -q -- "only used with --encrypt" "$TMP/err" ||
  fail "a password without --encrypt: status $status, $(cat "$TMP/err")"

USBD_TEST_PASSWORD=$PASSWORD start_usbd --test --encrypt \
  --passwordEnv=USBD_TEST_PASSWORD "$(store encrypt)"
cmp <(read_block 3) <(expected_block 3) || fail "--passwordEnv: wrong data"
stop_usbd

start_usbd --test --encrypt --password="$PASSWORD" "$(store encrypt)"
! tr '\0' ' ' <"/proc/$USBD_PID/cmdline" | grep -q -F "$PASSWORD" ||
  fail "--password is still visible in /proc/$USBD_PID/cmdline"
grep -q "warning: --password on the command line" "$TMP/usbd.log" ||
  fail "no warning about --password on the command line"
cmp <(read_block 40) <(expected_block 40) || fail "--password: wrong data"
stop_usbd
! grep -q -F "$PASSWORD" "$TMP/usbd.log" || fail "the log shows the password"

# --- 4. Settings that differ from the volume's ------------------------------
expect_start_failure "encryption none but the volume has aes-256-gcm" \
  --test "$(store encrypt)"
expect_start_failure "encryption none but the volume has aes-256-gcm" \
  --test --force "$(store encrypt)"
expect_start_failure "encryption aes-256-gcm but the volume has none" \
  --test --encrypt --passwordFile="$TMP/pw" "$(store none)"
expect_start_failure "compression none but the volume has zstd" \
  --test "$(store compress)"
expect_start_failure "compression zstd but the volume has none" \
  --test --compress --encrypt --passwordFile="$TMP/pw" "$(store encrypt)"
expect_start_failure "--size 16M but the volume has 8M" \
  --test --size=16M "$(store none)"

# --force switches compression off; what was written compressed still reads.
cp -a "$(store compress)" "$TMP/store-switch"
start_usbd --test --force "$TMP/store-switch"
grep -q "metadata rewritten (--force): compression none but the volume has zstd" \
  "$TMP/usbd.log" || fail "no warning about the forced compression switch"
nbdcopy "$URI" "$TMP/out.raw" || fail "switched off: nbdcopy failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "switched off: compressed blocks misread"
qemu-io -f raw -c "write -P 0x61 0 $BS" "$URI" >/dev/null ||
  fail "switched off: write failed"
stop_usbd
[ "$(stat -c %s "$TMP/store-switch/00000000")" -eq $BS ] ||
  fail "switched off: block 0 was not stored raw"
grep -qx "codec=none" "$TMP/store-switch/usbd-volume" ||
  fail "switched off: not recorded"
start_usbd --test "$TMP/store-switch"  # no --force needed any more
cmp <(read_block 1) <(expected_block 1) || fail "switched off: block 1"
stop_usbd

# --- 5. Damaged block files ------------------------------------------------
both=$(store both)
cp -a "$both" "$TMP/store-both-clean"
flip_byte() {  # FILE OFFSET
  local byte
  byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "\\$(printf '%03o' $(((byte ^ 0x5a) & 255)))" |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
flip_byte "$both/00000005" 40            # tampered (a compressed block)
flip_byte "$both/00000021" 1000          # tampered (a raw random block)
truncate -s -1 "$both/00000028"          # truncated
mv "$both/00000032" "$TMP/swap"          # swapped
mv "$both/00000033" "$both/00000032"
mv "$TMP/swap" "$both/00000033"
cp "$(store encrypt)/0000003c" "$both/0000003c"  # same password, other volume
BAD="5 33 40 50 51 60"

start_usbd --test --compress --encrypt --passwordFile="$TMP/pw" "$both"
for b in $BAD; do
  out=$(qemu-io -f raw -c "read $((b * BS)) $BS" "$URI" 2>&1) &&
    fail "block $b: qemu-io read succeeded on a damaged block: $out"
  grep -q "Input/output error" <<<"$out" || fail "block $b: $out"
  grep -q "block $b (0x$(printf '%x' "$b")).*not served as data" \
    "$TMP/usbd.log" || fail "the log does not name block $b"
  ! read_block "$b" >/dev/null 2>&1 || fail "block $b: libnbd read succeeded"
done
for b in 0 4 6 32 34 41 49 52 59 61 95 100; do
  cmp <(read_block "$b") <(expected_block "$b") ||
    fail "block $b (not damaged) does not read the same"
done
! nbdcopy "$URI" "$TMP/out.raw" 2>/dev/null ||
  fail "nbdcopy of a volume with damaged blocks succeeded"
# Rewriting a damaged block heals it.
qemu-io -f raw -c "write -P 0x62 $((5 * BS)) $BS" "$URI" >/dev/null ||
  fail "rewriting block 5 failed"
qemu-io -f raw -c "read -P 0x62 $((5 * BS)) $BS" "$URI" >/dev/null ||
  fail "block 5 does not read back after a rewrite"
stop_usbd

# Without encryption, a corrupt zstd payload is EIO too.
comp=$(store compress)
flip_byte "$comp/00000007" 30
start_usbd --test --compress "$comp"
! qemu-io -f raw -c "read $((7 * BS)) $BS" "$URI" >/dev/null 2>&1 ||
  fail "a corrupt compressed block was served"
grep -q "block 7 (0x7)" "$TMP/usbd.log" || fail "the log does not name block 7"
cmp <(read_block 8) <(expected_block 8) || fail "compress: block 8 damaged"
stop_usbd

# --- 6. --memory, and S3 -------------------------------------------------------
start_usbd --memory --size=$SIZE --blockSize=64k --compress --encrypt \
  --passwordFile="$TMP/pw" mem
nbdcopy --flush "$TMP/in.raw" "$URI" || fail "memory: nbdcopy to usbd failed"
nbdcopy "$URI" "$TMP/out.raw" || fail "memory: nbdcopy from usbd failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "memory: round trip changed data"
stop_usbd

if have_s3; then
  start_s3
  s3_create_bucket enc
  S3=("${S3_ARGS[@]}")
  start_usbd "${S3[@]}" --size=$SIZE --blockSize=64k --compress --encrypt \
    --passwordFile="$TMP/pw" enc
  nbdcopy "$TMP/in.raw" "$URI" || fail "s3: nbdcopy to usbd failed"
  stop_usbd
  start_usbd "${S3[@]}" --compress --encrypt --passwordFile="$TMP/pw" enc
  nbdcopy "$URI" "$TMP/out.raw" || fail "s3: nbdcopy from usbd failed"
  cmp "$TMP/in.raw" "$TMP/out.raw" || fail "s3: round trip changed data"
  stop_usbd
  mkdir "$TMP/bucket"
  s3_download enc "$TMP/bucket" || fail "s3: cannot download the bucket"
  n=$(ls "$TMP/bucket" | grep -c -x "$BLOCKS" || true)
  [ "$n" -eq 96 ] || fail "s3: $n block objects, expected 96"
  [ "$(pattern_count "$TMP/bucket")" -eq 0 ] ||
    fail "s3: the plaintext is in the bucket"
  grep -qx "cipher=aes-256-gcm" "$TMP/bucket/usbd-volume" ||
    fail "s3: metadata: $(cat "$TMP/bucket/usbd-volume")"
  expect_start_failure "wrong password" "${S3[@]}" --compress --encrypt \
    --passwordFile="$TMP/wrong" enc
  expect_start_failure "encryption none but the volume has aes-256-gcm" \
    "${S3[@]}" --compress enc
  echo "s3: round trip, no plaintext in the bucket, wrong password refused"
else
  echo "note: no S3 server (moto_server and the aws cli, or radosgw) found: the S3 part was skipped" >&2
fi

echo "PASS: $TEST_NAME"
