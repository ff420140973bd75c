#!/bin/bash
# Every object is verified on the way back (issue 11, part 3), with the real
# usbd, real NBD clients, nginx (plain HTTP) and S3 (moto_server or radosgw,
# as S3_SERVER says), and the fault proxy (tests/tools/fault_proxy.py)
# between usbd and the store:
#  a. Transient corruption: the proxy flips one byte in 30% of the GET
#     bodies of block objects. With no codec, with --compress (random data:
#     every block is stored uncompressed) and with --encrypt, every read
#     returns the right data (nbdcopy + cmp: 0 mismatches) and the log shows
#     the corrupt reads being retried.
#  b. Persistent corruption: one block object is changed in the store itself
#     (the file under nginx's root; for S3 a GET, one byte changed, a PUT, so
#     the ETag matches the corrupt body). Reading that block is EIO after
#     the retry budget, with one error line naming the object; the blocks
#     around it read fine.
#  c. A corrupt volume metadata object (usbd-volume) is refused at start
#     with "object ... is corrupt: checksum mismatch", not "unknown key".
#  d. A volume of an earlier usbd (metadata without object_format and
#     without a checksum line: it writes raw blocks) still works; over S3
#     its raw blocks are checked against the MD5 ETag, so transient flips
#     there are caught too.
# Prints the figures: faults injected, blocks read and checked, mismatches.
# SKIP (77) only when nginx or nbdcopy is missing; the S3 half is skipped,
# loudly, without an S3 server.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_nginx
require_tool nbdcopy cmp python3 curl timeout
require_nbd_py

KIB=1024
BS=$((64 * KIB))
BLOCKS=64
SIZE=$((BLOCKS * BS))
PASSES=2
FLIP_RATE=0.3
make_random_file "$TMP/in.raw" $SIZE 77 || true
[ "$(stat -c %s "$TMP/in.raw")" -eq $SIZE ] || fail "cannot make in.raw"
printf 'integrity test password\n' >"$TMP/pw"
chmod 600 "$TMP/pw"

# Patient for transient faults (a read fails only if ~10 GETs in a row are
# corrupted), short where corruption persists.
PATIENT=(--initialRetryPause=20 --maxRetryPause=20000)
SHORT=(--initialRetryPause=20 --maxRetryPause=1000)

FAULTS=0
CHECKED=0
MISMATCHES=0
CORRUPT_RETRIES=0

mode_args() {  # MODE
  case $1 in
    none) ;;
    compress) echo --compress ;;
    encrypt) echo --encrypt --passwordFile="$TMP/pw" ;;
  esac
}

# flip_byte FILE: changes the byte in the middle of FILE.
flip_byte() {
  python3 - "$1" <<'PY'
import os, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0xFF]))
PY
}

# transient_flips WHAT URI PID: (a) PASSES whole reads under flips.
transient_flips() {
  local what=$1 uri=$2 pid=$3 pass faults bad warnings
  fault_clear
  fault_set "{\"mode\":\"flip\",\"methods\":\"GET\",\"path\":\"[0-9a-f]{8}\$\",\"rate\":$FLIP_RATE}"
  for ((pass = 1; pass <= PASSES; pass++)); do
    rm -f "$TMP/out.raw"
    nbdcopy --connections=2 "$uri" "$TMP/out.raw" ||
      fail "$what: nbdcopy under transient flips failed (pass $pass)"
    bad=$(cmp -l "$TMP/in.raw" "$TMP/out.raw" | wc -l || true)
    MISMATCHES=$((MISMATCHES + bad))
    CHECKED=$((CHECKED + BLOCKS))
    [ "$bad" -eq 0 ] ||
      later_fail "$what: $bad bytes read back differ under transient flips (pass $pass)"
  done
  faults=$(fault_stat 's["stats"]["faults"]["flip"]')
  fault_clear
  FAULTS=$((FAULTS + faults))
  [ "$faults" -gt 0 ] || fail "$what: the proxy flipped nothing"
  warnings=$(grep -c "usbd\[$pid\]: warning: read of block .*read a corrupt object" \
    "$TMP/usbd.log" || true)
  CORRUPT_RETRIES=$((CORRUPT_RETRIES + warnings))
  [ "$warnings" -gt 0 ] ||
    later_fail "$what: $faults flipped GETs but no retry of a corrupt object in the log"
  echo "$what: $faults bodies flipped, $((PASSES * BLOCKS)) blocks read and checked, $bad mismatches, $warnings corrupt reads retried"
}

# persistent BLOCK KEY URI PID WHAT: (b) the block is EIO, logged once
# naming KEY; its neighbours read fine.
persistent() {
  local block=$1 key=$2 uri=$3 pid=$4 what=$5 lines
  expect_op EIO "$uri" read $((block * BS)) 4096
  # The retry layer's one line (the NBD request's failure is logged too).
  lines=$(grep -c "usbd\[$pid\]: error: read of block $block .*$key.*giving up" \
    "$TMP/usbd.log" || true)
  [ "$lines" -eq 1 ] ||
    later_fail "$what: $lines give-up lines name $key, expected 1: $(grep "usbd\[$pid\]: error:" "$TMP/usbd.log" | tail -2)"
  grep "usbd\[$pid\]: error: .*$key" "$TMP/usbd.log" | grep -q "corrupt" ||
    later_fail "$what: the error line does not say the object is corrupt"
  expect_op ok "$uri" read $(((block - 1) * BS)) $BS "$TMP/in.raw"
  expect_op ok "$uri" read $(((block + 1) * BS)) $BS "$TMP/in.raw"
}

# corrupt_metadata_refused WHAT ARGS...: (c), after the caller changed it.
corrupt_metadata_refused() {
  local what=$1
  shift
  refused "$TMP/meta.out" "$@"
  grep -q "is corrupt: checksum mismatch" "$TMP/meta.out" ||
    fail "$what: a corrupt metadata object is not reported as such: $(cat "$TMP/meta.out")"
  grep -q "usbd-volume" "$TMP/meta.out" ||
    fail "$what: the refusal does not name the metadata object"
  ! grep -q "unknown key" "$TMP/meta.out" ||
    fail "$what: misleading 'unknown key' for a corrupt metadata object"
}

legacy_metadata() {
  printf 'usbd-volume 1\nsize=%d\nblock_size=%d\nblock_hash_prefix=0\nuuid=%s\ncreated=2026-01-02T03:04:05Z\ncodec=none\ncipher=none\n' \
    $SIZE $BS 0123456789abcdef0123456789abcdef
}

# --- HTTP (nginx) -----------------------------------------------------------------
start_nginx_dav
start_fault_proxy "${NGINX_URL%/}"
H=(--httpStore --baseURL="$PROXY_URL")
for mode in none compress encrypt; do
  read -r -a M <<<"$(mode_args $mode)"
  VOL=int/$mode
  start_named u "${H[@]}" "${M[@]}" "${PATIENT[@]}" --size=$SIZE \
    --blockSize=$BS "$VOL"
  nbdcopy "$TMP/in.raw" "$u_URI" || fail "http $mode: nbdcopy in failed"
  obj="$NGINX_ROOT/int/$mode/00000005"
  [ "$(stat -c %s "$obj")" -eq $((BS + 24 + $([ $mode = encrypt ] && echo 28 || echo 0))) ] ||
    fail "http $mode: block object is $(stat -c %s "$obj") bytes, not a format 2 object of a block"
  transient_flips "http $mode" "$u_URI" "$u_PID"
  stop_named u
  flip_byte "$obj"
  start_named u "${H[@]}" "${M[@]}" "${SHORT[@]}" "$VOL"
  persistent 5 "$mode/00000005" "$u_URI" "$u_PID" "http $mode"
  stop_named u
done
sed -i 's/^size=/Size=/' "$NGINX_ROOT/int/none/usbd-volume"
corrupt_metadata_refused "http" "${H[@]}" "${SHORT[@]}" int/none

# A volume of an earlier usbd: format 1, raw blocks.
mkdir -p "$NGINX_ROOT/int/legacy"
legacy_metadata >"$NGINX_ROOT/int/legacy/usbd-volume"
start_named u "${H[@]}" "${PATIENT[@]}" int/legacy
nbdcopy "$TMP/in.raw" "$u_URI" || fail "http legacy: nbdcopy in failed"
[ "$(stat -c %s "$NGINX_ROOT/int/legacy/00000007")" -eq $BS ] ||
  fail "http legacy: a format 1 volume did not get a raw block"
rm -f "$TMP/out.raw"
nbdcopy "$u_URI" "$TMP/out.raw" && cmp "$TMP/in.raw" "$TMP/out.raw" ||
  fail "http legacy: a format 1 volume does not read back"
stop_named u
! grep -q "checksum=" "$NGINX_ROOT/int/legacy/usbd-volume" ||
  fail "http legacy: the old metadata was rewritten"
stop_fault_proxy

# --- S3 -------------------------------------------------------------------------
if ! have_s3; then
  echo "SKIP (part): $TEST_NAME: no S3 server (moto_server and the aws cli, or radosgw); the S3 half did not run" >&2
else
  start_s3
  s3_create_bucket intb
  start_fault_proxy "$S3_ENDPOINT"
  S3=(--baseURL="$PROXY_URL" --accessFile="$S3_ACCESS_FILE")
  for mode in none compress encrypt; do
    read -r -a M <<<"$(mode_args $mode)"
    VOL=(--prefix=$mode- intb)
    start_named u "${S3[@]}" "${M[@]}" "${PATIENT[@]}" --size=$SIZE \
      --blockSize=$BS "${VOL[@]}"
    nbdcopy "$TMP/in.raw" "$u_URI" || fail "s3 $mode: nbdcopy in failed"
    transient_flips "s3 $mode" "$u_URI" "$u_PID"
    stop_named u
    # Rewritten in the bucket: the ETag is the MD5 of the corrupt body.
    s3_get intb $mode-00000005 >"$TMP/obj" ||
      fail "s3 $mode: cannot get the object"
    flip_byte "$TMP/obj"
    s3_put "$TMP/obj" intb $mode-00000005 ||
      fail "s3 $mode: cannot put the object"
    start_named u "${S3[@]}" "${M[@]}" "${SHORT[@]}" "${VOL[@]}"
    persistent 5 "$mode-00000005" "$u_URI" "$u_PID" "s3 $mode"
    stop_named u
  done
  s3_get intb none-usbd-volume >"$TMP/meta" ||
    fail "s3: cannot get the metadata object"
  sed -i 's/^size=/Size=/' "$TMP/meta"
  s3_put "$TMP/meta" intb none-usbd-volume ||
    fail "s3: cannot put the metadata object"
  corrupt_metadata_refused "s3" "${S3[@]}" "${SHORT[@]}" --prefix=none- intb

  # An earlier usbd's volume over S3: raw blocks, checked by their ETag.
  legacy_metadata >"$TMP/legacy"
  s3_put "$TMP/legacy" intb legacy-usbd-volume ||
    fail "s3 legacy: cannot put metadata"
  start_named u "${S3[@]}" "${PATIENT[@]}" --prefix=legacy- intb
  nbdcopy "$TMP/in.raw" "$u_URI" || fail "s3 legacy: nbdcopy in failed"
  transient_flips "s3 legacy (raw blocks, MD5 ETag)" "$u_URI" "$u_PID"
  stop_named u
fi

echo "integrity: $FAULTS GET bodies flipped in transit, $CHECKED blocks read and checked, $MISMATCHES mismatched bytes, $CORRUPT_RETRIES corrupt reads retried"
[ "$MISMATCHES" -eq 0 ] || later_fail "$MISMATCHES mismatched bytes in all"
finish_test
