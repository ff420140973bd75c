#!/bin/bash
# usbd on a plain HTTP store (--httpStore: nginx with its dav module) end to
# end, with real NBD clients:
#  1. nbdcopy round trip of a 32 MiB image; one file per non-zero block under
#     nginx's root, each a format 2 object (16-byte header, the block, an
#     8-byte checksum); zero blocks are not stored.
#  2. Restart: size and block size come from the volume; a conflicting
#     --size is refused naming both values.
#  3. Mount token: a second usbd is refused naming host and pid, and the
#     first's data is intact.
#  4. Damaged objects (a file under nginx's root cut short, emptied, or made
#     longer): reads of that block fail with EIO naming the object, never
#     zeros or garbage (nbd, qemu-io, nbdcopy); other blocks still read; a
#     whole-block write repairs it.
#  5. --erase --force deletes every object of the volume.
# SKIP (77) only when nginx is missing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_nginx
require_tool nbdcopy nbdinfo qemu-io openssl cmp python3 timeout
require_nbd_py

KIB=1024
MIB=$((1024 * KIB))
SIZE=$((32 * MIB))
BS=$((128 * KIB))

start_nginx_dav
H=(--httpStore --baseURL="$NGINX_URL")
# BUCKET/PREFIX: the objects are BASEURL/disk1/vol1/ + 8 hex digits.
VOL=disk1/vol1
DIR="$NGINX_ROOT/disk1/vol1"

block_file() { printf '%s/%08x' "$DIR" "$1"; }  # BLOCK
count_files() { find "$DIR" -type f 2>/dev/null | wc -l; }
expect_files() {  # WHAT COUNT [MUST_HAVE [MUST_NOT_HAVE]]
  local n
  n=$(count_files)
  [ "$n" -eq "$2" ] || fail "$1: $n objects under nginx's root, expected $2"
  [ -z "${3:-}" ] || [ -f "$DIR/$3" ] || fail "$1: no object $3"
  [ -z "${4:-}" ] || [ ! -e "$DIR/$4" ] || fail "$1: object $4 is there"
}

# 32 MiB of random data with 4 MiB of zeros at 8 MiB (blocks 64..95).
make_random_file "$TMP/in.raw" $SIZE 41 || true
[ "$(stat -c %s "$TMP/in.raw")" -eq $SIZE ] || fail "cannot make in.raw"
dd if=/dev/zero of="$TMP/in.raw" bs=1M seek=8 count=4 conv=notrunc status=none

# --- 1. Round trip -------------------------------------------------------------
start_named a "${H[@]}" --size=32M --blockSize=128k "$VOL"
grep -q "usbd\[$a_PID\]: info: created volume $VOL" "$TMP/usbd.log" ||
  fail "usbd did not report creating the volume"
nbdcopy --connections=4 --requests=32 "$TMP/in.raw" "$a_URI" ||
  fail "nbdcopy file -> usbd(HTTP) failed"
nbdcopy --connections=4 --requests=32 "$a_URI" "$TMP/out.raw" ||
  fail "nbdcopy usbd(HTTP) -> file failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "round trip through HTTP changed data"
# 256 blocks - 32 zero ones, + usbd-volume + usbd-mounted.
expect_files "while serving" 227 usbd-mounted
expect_files "while serving" 227 s3backer-mounted
# usbd(8), NBD: "supports ... FUA, flush"; clients that ask must not fail.
for what in flush fua; do
  nbdinfo --can $what "$a_URI" ||
    later_fail "the HTTP volume does not advertise NBD $what (nbdinfo --can $what: status $?), which usbd(8) promises"
done
for b in 0 1 63 96 255; do
  [ "$(stat -c %s "$(block_file $b)")" -eq $((BS + 24)) ] ||
    fail "object of block $b is not $((BS + 24)) bytes long"
  cmp -s <(dd if="$TMP/in.raw" bs=$BS skip=$b count=1 status=none) \
    <(tail -c +17 "$(block_file $b)" | head -c $BS) ||
    fail "object of block $b does not hold its data"
done
[ ! -e "$(block_file 64)" ] && [ ! -e "$(block_file 95)" ] ||
  fail "all-zero blocks were stored"
stop_named a
expect_files "after a clean stop" 225 usbd-volume usbd-mounted

# --- 2. Geometry from the volume -------------------------------------------------
refused "$TMP/size.out" "${H[@]}" --size=16M "$VOL"
names_both "$TMP/size.out" "refusal of --size=16M" '16 ?M' '32 ?M'
expect_files "after a refused start" 225 usbd-volume usbd-mounted

start_named a "${H[@]}" --maxRetryPause=2000 --initialRetryPause=100 "$VOL"
[ "$(nbdinfo --size "$a_URI")" -eq $SIZE ] ||
  fail "restart without --size: size $(nbdinfo --size "$a_URI"), expected $SIZE"
nbdinfo "$a_URI" | grep -q "block_size_preferred: $BS" ||
  fail "restart without --blockSize: preferred block size is not $BS"
rm -f "$TMP/out.raw"
nbdcopy "$a_URI" "$TMP/out.raw" || fail "nbdcopy after restart failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "data differs after a restart"

# --- 3. Mount token ---------------------------------------------------------------
host=$(uname -n)
refused "$TMP/second.out" "${H[@]}" "$VOL"
grep -q "host $host pid $a_PID" "$TMP/second.out" ||
  fail "second usbd's refusal does not name host $host pid $a_PID: $(cat "$TMP/second.out")"
grep -q "running on this machine; stop it first" "$TMP/second.out" ||
  fail "second usbd's refusal does not say the holder runs here"
kill -0 "$a_PID" 2>/dev/null || fail "the first usbd died when a second one was refused"
expect_files "after the refused second usbd" 227 usbd-mounted
rm -f "$TMP/out.raw"
nbdcopy "$a_URI" "$TMP/out.raw" || fail "nbdcopy after the refused second usbd failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "data changed by the refused second usbd"

# --- 4. Damaged objects ----------------------------------------------------------
truncate -s 1000 "$(block_file 3)"    # cut short
truncate -s 0 "$(block_file 5)"       # empty
printf 'X' >>"$(block_file 6)"        # one byte too long
for b in 3 5 6; do
  t0=$(now_ms)
  expect_op EIO "$a_URI" read $((b * BS)) 4096
  expect_op EIO "$a_URI" read $((b * BS + BS - 512)) 512
  elapsed=$(($(now_ms) - t0))
  [ $elapsed -lt 15000 ] || fail "reads of damaged block $b took $elapsed ms"
  grep -qE "usbd\[$a_PID\]: error: .*block ${b}[ :]" "$TMP/usbd.log" ||
    fail "the log does not name damaged block $b"
  # The object's key is what an operator looks for in the store.
  key=$(printf 'vol1/%08x' $b)
  grep -q "usbd\[$a_PID\]: error: .*$key" "$TMP/usbd.log" ||
    later_fail "the log does not name the damaged object's key $key: $(grep -E "usbd\[$a_PID\]: error: .*block ${b}[ :]" "$TMP/usbd.log" | head -1)"
done
# Blocks around them still read.
expect_op ok "$a_URI" read $((4 * BS)) $BS "$TMP/in.raw"
expect_op ok "$a_URI" read $((7 * BS)) $BS "$TMP/in.raw"
# A write of part of a damaged block needs its old content: EIO too, and the
# object is left as it was (not rebuilt from zeros).
expect_op EIO "$a_URI" write $((3 * BS + 4096)) 4096 "$TMP/in.raw"
[ "$(stat -c %s "$(block_file 3)")" -eq 1000 ] ||
  fail "a partial write rewrote the damaged object of block 3"
# Other clients: qemu-io reports the error, nbdcopy fails, nothing is served.
out=$(qemu-io -f raw -r -c "read $((3 * BS)) $BS" "$a_URI" 2>&1) &&
  fail "qemu-io read of a damaged block succeeded: $out"
grep -q "Input/output error" <<<"$out" ||
  fail "qemu-io read of a damaged block: $out"
rm -f "$TMP/out.raw"
if nbdcopy "$a_URI" "$TMP/out.raw" 2>"$TMP/nbdcopy.err"; then
  fail "nbdcopy of a volume with damaged objects succeeded"
fi
grep -qi "input/output error" "$TMP/nbdcopy.err" ||
  fail "nbdcopy did not report EIO: $(cat "$TMP/nbdcopy.err")"
kill -0 "$a_PID" 2>/dev/null || fail "usbd died on damaged objects"
# Whole-block writes replace the damaged objects; everything reads back.
for b in 3 5 6; do
  expect_op ok "$a_URI" write $((b * BS)) $BS "$TMP/in.raw"
  [ "$(stat -c %s "$(block_file $b)")" -eq $((BS + 24)) ] ||
    fail "the write did not repair the object of block $b"
done
rm -f "$TMP/out.raw"
nbdcopy "$a_URI" "$TMP/out.raw" || fail "nbdcopy after the repair failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "data differs after the repair"
stop_named a

# --- 5. Erase ---------------------------------------------------------------------
"$USBD" --erase --force "${H[@]}" "$VOL" >>"$TMP/usbd.log" 2>&1 ||
  fail "--erase --force failed"
expect_files "after --erase" 0
refused "$TMP/erased.out" "${H[@]}" "$VOL"
grep -q -- "--size" "$TMP/erased.out" ||
  fail "starting an erased volume without --size: $(cat "$TMP/erased.out")"
expect_files "after a refused start" 0

finish_test
