#!/bin/bash
# usbd on S3 end to end: moto_server (signatures checked for real with an IAM
# key) or Ceph's RADOS Gateway, as S3_SERVER says (servers.sh, start_s3; with
# S3_STYLE=vhost, virtual-host addressing), real NBD clients, and
# tests/tools/fault_proxy.py between usbd and the server for the failure
# cases (path style).
#  1. nbdcopy round trip of a 64 MiB image; nbdinfo --map (--listBlocks)
#     shows holes where nothing was stored; zero blocks are not stored.
#  2. Restart: size and block size come from the volume; a conflicting
#     --size or --blockSize is refused naming both values.
#  3. Mount token: a second usbd is refused naming host and pid; a read-only
#     one is let in with a warning and refuses writes with EPERM; kill -9
#     leaves a stale token that --reset-mounted-flag clears, and that the
#     next start on this machine takes over by itself.
#  4. Credentials: a wrong secret fails at start with one line naming
#     SignatureDoesNotMatch and the key id, never the secret; a secret given
#     with --accessKey does not stay visible in /proc/PID/cmdline or ps.
#  5. Faults through the proxy: transient 503 SlowDown, connection resets
#     and truncated bodies are retried (data intact), and so are uploads
#     damaged on the way, which radosgw refuses (moto keeps them: not tried
#     there); a permanent 500, a stalled store and an unreachable one fail
#     the NBD request with EIO within the retry budget, naming the block,
#     and usbd serves again once the fault is gone.
#  NBD flush/FUA (promised by usbd(8)) are checked too; failures of such
#  checks are reported at the end so that the rest still runs.
#  6. --erase --force deletes every object of the volume.
# SKIP (77) only when no S3 server (moto_server and the aws cli, or radosgw)
# is installed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_s3
require_tool nbdcopy nbdinfo qemu-io openssl cmp curl python3 timeout
require_nbd_py

KIB=1024
MIB=$((1024 * KIB))
SIZE=$((64 * MIB))
BS=$((512 * KIB))

start_s3
s3_create_bucket vol
s3_create_bucket flt
S3=("${S3_ARGS[@]}")

expect_keys() {  # BUCKET WHAT EXPECTED_COUNT [MUST_HAVE [MUST_NOT_HAVE]]
  local keys n
  keys=$(s3_list_keys "$1") || fail "cannot list bucket $1"
  n=$(printf '%s' "$keys" | grep -c . || true)
  [ "$n" -eq "$3" ] || fail "bucket $1 $2: $n objects, expected $3"
  if [ -n "${4:-}" ]; then
    grep -qx -- "$4" <<<"$keys" || fail "bucket $1 $2: no object $4"
  fi
  if [ -n "${5:-}" ]; then
    ! grep -qx -- "$5" <<<"$keys" || fail "bucket $1 $2: object $5 is there"
  fi
}

# 64 MiB of random data with 8 MiB of zeros at 24 MiB (blocks 48..63).
make_random_file "$TMP/in.raw" $SIZE 31 || true
[ "$(stat -c %s "$TMP/in.raw")" -eq $SIZE ] || fail "cannot make in.raw"
dd if=/dev/zero of="$TMP/in.raw" bs=1M seek=24 count=8 conv=notrunc status=none
HOLEMAP="0 $((24 * MIB)) 0
$((24 * MIB)) $((8 * MIB)) 3
$((32 * MIB)) $((32 * MIB)) 0"

# --- 1. Round trip, holes ----------------------------------------------------
start_named a "${S3[@]}" --size=64M --blockSize=512k --listBlocks vol
grep -q "usbd\[$a_PID\]: info: created volume vol" "$TMP/usbd.log" ||
  fail "usbd did not report creating the volume"
expect_map "$a_URI" "of the new volume" "0 $SIZE 3"
nbdcopy --connections=4 --requests=32 "$TMP/in.raw" "$a_URI" ||
  fail "nbdcopy file -> usbd(S3) failed"
nbdcopy --connections=4 --requests=32 "$a_URI" "$TMP/out.raw" ||
  fail "nbdcopy usbd(S3) -> file failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "round trip through S3 changed data"
expect_map "$a_URI" "after the copy" "$HOLEMAP"
# usbd(8), NBD: "supports ... FUA, flush"; a write is stored when it returns,
# so a flush has nothing to do, but clients that ask for one must not fail.
for what in flush fua; do
  nbdinfo --can $what "$a_URI" ||
    later_fail "the S3 volume does not advertise NBD $what (nbdinfo --can $what: status $?), which usbd(8) promises"
done
nbdcopy --flush "$TMP/in.raw" "$a_URI" 2>"$TMP/flush.err" ||
  later_fail "nbdcopy --flush to the S3 volume failed: $(cat "$TMP/flush.err")"
# 128 blocks - 16 zero ones, + usbd-volume + usbd-mounted.
expect_keys vol "while serving" 115 usbd-mounted
# s3backer's flag beside the token, so s3backer refuses the volume too.
expect_keys vol "while serving" 115 s3backer-mounted
stop_named a
expect_keys vol "after a clean stop" 113 usbd-volume usbd-mounted
grep -q "usbd\[$a_PID\]: info: stopped; all data flushed" "$TMP/usbd.log" ||
  fail "no clean-stop message"

# --- 2. Geometry from the volume -------------------------------------------------
refused "$TMP/size.out" "${S3[@]}" --size=32M vol
names_both "$TMP/size.out" "refusal of --size=32M" '32 ?M' '64 ?M'
refused "$TMP/bs.out" "${S3[@]}" --blockSize=256k vol
names_both "$TMP/bs.out" "refusal of --blockSize=256k" '256 ?k' '512 ?k'
expect_keys vol "after refused starts" 113 usbd-volume usbd-mounted

start_named a "${S3[@]}" --listBlocks vol
[ "$(nbdinfo --size "$a_URI")" -eq $SIZE ] ||
  fail "restart without --size: size $(nbdinfo --size "$a_URI"), expected $SIZE"
nbdinfo "$a_URI" | grep -q "block_size_preferred: $BS" ||
  fail "restart without --blockSize: preferred block size is not $BS"
expect_map "$a_URI" "after a restart (from the listing)" "$HOLEMAP"
rm -f "$TMP/out.raw"
nbdcopy "$a_URI" "$TMP/out.raw" || fail "nbdcopy after restart failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "data differs after a restart"

# --- 3. Mount token ---------------------------------------------------------------
host=$(uname -n)
refused "$TMP/second.out" "${S3[@]}" vol
grep -q "host $host pid $a_PID" "$TMP/second.out" ||
  fail "second usbd's refusal does not name host $host pid $a_PID: $(cat "$TMP/second.out")"
kill -0 "$a_PID" 2>/dev/null || fail "the first usbd died when a second one was refused"
expect_keys vol "after the refused second usbd" 115 usbd-mounted
rm -f "$TMP/out.raw"
nbdcopy "$a_URI" "$TMP/out.raw" || fail "nbdcopy after the refused second usbd failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "data changed by the refused second usbd"

# A read-only usbd does not take the token: it warns and refuses writes.
start_named ro "${S3[@]}" --readOnly vol
grep -q "usbd\[$ro_PID\]: warning: .*mounted read-write by host $host pid $a_PID" \
  "$TMP/usbd.log" || fail "read-only usbd did not warn about the read-write one"
expect_op EPERM "$ro_URI" write $((2 * MIB)) 4096
expect_op EPERM "$ro_URI" write 0 $BS
expect_op EPERM "$ro_URI" trim $((4 * MIB)) $BS
expect_op EPERM "$ro_URI" zero $((4 * MIB)) $BS
expect_op ok "$ro_URI" read 0 $((4 * MIB)) "$TMP/in.raw"
stop_named ro
expect_keys vol "after the read-only usbd" 115 usbd-mounted
rm -f "$TMP/out.raw"
nbdcopy "$a_URI" "$TMP/out.raw" || fail "nbdcopy after the read-only usbd failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "data changed by the read-only usbd"

# kill -9: the token stays; the next start on this machine takes it over
# (mount_token.sh covers the cases it must refuse); --reset-mounted-flag
# still clears a token by hand.
kill -KILL "$a_PID"
wait "$a_PID" 2>/dev/null || true
expect_keys vol "after kill -9" 115 usbd-mounted
"$USBD" --reset-mounted-flag "${S3[@]}" vol >>"$TMP/usbd.log" 2>&1 ||
  fail "--reset-mounted-flag failed"
expect_keys vol "after --reset-mounted-flag" 113 usbd-volume usbd-mounted
start_named a "${S3[@]}" vol
rm -f "$TMP/out.raw"
nbdcopy "$a_URI" "$TMP/out.raw" || fail "nbdcopy after --reset-mounted-flag failed"
cmp "$TMP/in.raw" "$TMP/out.raw" || fail "data differs after kill -9 and reset"
old=$a_PID
kill -KILL "$a_PID"
wait "$a_PID" 2>/dev/null || true
start_named a "${S3[@]}" vol
grep -q "usbd\[$a_PID\]: info: .*taking over the mount token of host $host pid $old" \
  "$TMP/usbd.log" || fail "a restart after kill -9 did not take its token over"
stop_named a

# --- 4. Credentials ---------------------------------------------------------------
bad_secret="WrongSecret0123456789abcdefghijklmnopqrs"
(umask 077 && echo "$S3_KEY_ID:$bad_secret" >"$TMP/bad.passwd")
for how in file arg; do
  if [ $how = file ]; then
    creds=(--accessFile="$TMP/bad.passwd")
  else
    creds=(--accessId="$S3_KEY_ID" --accessKey="$bad_secret")
  fi
  t0=$(now_ms)
  HOME="$TMP" refused "$TMP/badkey.out" "${S3_URL[@]}" "${creds[@]}" vol
  elapsed=$(($(now_ms) - t0))
  [ $REFUSED_RC -eq 1 ] ||
    fail "wrong secret ($how): exit status $REFUSED_RC, expected 1"
  [ $elapsed -lt 10000 ] ||
    fail "wrong secret ($how): took $elapsed ms to fail (a 403 must not be retried)"
  n=$(grep -c SignatureDoesNotMatch "$TMP/badkey.out" || true)
  [ "$n" -eq 1 ] ||
    fail "wrong secret ($how): $n lines name SignatureDoesNotMatch, expected 1: $(cat "$TMP/badkey.out")"
  n=$(grep -c "error:" "$TMP/badkey.out" || true)
  [ "$n" -eq 1 ] ||
    fail "wrong secret ($how): $n error lines, expected one: $(cat "$TMP/badkey.out")"
  grep SignatureDoesNotMatch "$TMP/badkey.out" | grep -q -- "$S3_KEY_ID" ||
    fail "wrong secret ($how): the SignatureDoesNotMatch line does not name key id $S3_KEY_ID"
  ! grep -qF -- "$bad_secret" "$TMP/badkey.out" ||
    fail "wrong secret ($how): the secret appears in usbd's output"
done
expect_keys vol "after the wrong-key starts" 113 usbd-volume usbd-mounted

# --accessKey on the command line: gone from /proc/PID/cmdline and ps.
HOME="$TMP" start_named ak "${S3_URL[@]}" \
  --accessId="$S3_KEY_ID" --accessKey="$S3_SECRET" vol
! tr '\0' ' ' <"/proc/$ak_PID/cmdline" | grep -qF -- "$S3_SECRET" ||
  fail "the secret given with --accessKey is visible in /proc/$ak_PID/cmdline"
tr '\0' ' ' <"/proc/$ak_PID/cmdline" | grep -qF -- "--accessId=$S3_KEY_ID" ||
  fail "/proc/$ak_PID/cmdline does not look like usbd's command line"
! ps -ww -o args= -p "$ak_PID" | grep -qF -- "$S3_SECRET" ||
  fail "the secret given with --accessKey is visible in ps"
expect_op ok "$ak_URI" read 0 $((2 * MIB)) "$TMP/in.raw"
stop_named ak

# The AWS CLI's credentials file, with a profile picked by AWS_PROFILE (and
# no other credentials anywhere).
mkdir -p "$TMP/awshome/.aws"
(umask 077 && printf '[default]\naws_access_key_id = nobody\naws_secret_access_key = wrong\n\n[profile test]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$S3_KEY_ID" "$S3_SECRET" >"$TMP/awshome/.aws/credentials")
HOME="$TMP/awshome" AWS_SHARED_CREDENTIALS_FILE= AWS_PROFILE=test \
  start_named prof "${S3_URL[@]}" vol
expect_op ok "$prof_URI" read 0 $((2 * MIB)) "$TMP/in.raw"
stop_named prof

# --blockCacheSync is write-through (s3backer's meaning): with uploads held
# back a minute, the block is in the bucket when the write is answered,
# without a FLUSH.
s3_create_bucket syncvol
start_named sync "${S3[@]}" --size=4M --blockSize=64k --blockCacheSize=16 \
  --blockCacheWriteDelay=60000 --blockCacheSync syncvol
expect_op ok "$sync_URI" write $((3 * 65536)) 65536
grep -qx 00000003 <<<"$(s3_list_keys syncvol)" ||
  fail "--blockCacheSync: block 3 is not in the bucket when its write returned"
stop_named sync

# --sse=aws:kms with --sse-key-id (s3backer's option): every object usbd
# writes names that KMS key.
s3_create_bucket kmsvol
start_named kms "${S3[@]}" --size=4M --blockSize=64k --sse=aws:kms \
  --sse-key-id=usbd-key-1 kmsvol
expect_op ok "$kms_URI" write 0 65536
stop_named kms
# (The whole listing first: grep -m 1 would leave the lister a broken pipe.)
keys=$(s3_list_keys kmsvol) || fail "cannot list bucket kmsvol"
block_key=$(grep -m 1 -x '[0-9a-f]\{8\}' <<<"$keys") ||
  fail "no block object in bucket kmsvol"
for key in "$block_key" usbd-volume; do
  kms_key=$(s3_kms_key_id kmsvol "$key")
  [ "$kms_key" = usbd-key-1 ] ||
    fail "object $key of the --sse-key-id volume names KMS key '$kms_key'"
done

# --- 5. Faults, through the proxy ----------------------------------------------
FSIZE=$((16 * MIB))
FBS=$((256 * KIB))
make_random_file "$TMP/f.raw" $FSIZE 32 || true
[ "$(stat -c %s "$TMP/f.raw")" -eq $FSIZE ] || fail "cannot make f.raw"
start_fault_proxy "$S3_ENDPOINT"
FLT=(--baseURL="$PROXY_URL" --accessFile="$S3_ACCESS_FILE" --prefix=fp-)

# 5a. Transient faults (default retry budget): 3 SlowDown and 2 resets on
#     PUT, the same and 2 truncated bodies on GET, over the copy in and out.
start_named f "${FLT[@]}" --debug --size=16M --listBlocks flt
BLOCKS='^/flt/fp-[0-9a-f]{8}$'  # block objects only: no listing, no metadata
fault_set '[{"mode":"503","methods":"PUT","path":"'"$BLOCKS"'","count":3,"skip":4},
            {"mode":"reset","methods":"PUT","path":"'"$BLOCKS"'","count":2,"skip":12},
            {"mode":"503","methods":"GET","path":"'"$BLOCKS"'","count":3,"skip":4},
            {"mode":"reset","methods":"GET","path":"'"$BLOCKS"'","count":2,"skip":12},
            {"mode":"truncate","methods":"GET","path":"'"$BLOCKS"'","count":2,"skip":24}]'
nbdcopy --connections=2 --requests=16 "$TMP/f.raw" "$f_URI" ||
  fail "nbdcopy into usbd failed despite retries (transient faults)"
rm -f "$TMP/fout.raw"
nbdcopy --connections=2 --requests=16 "$f_URI" "$TMP/fout.raw" ||
  fail "nbdcopy out of usbd failed despite retries (transient faults)"
cmp "$TMP/f.raw" "$TMP/fout.raw" || fail "data differs after transient faults"
fired=$(fault_stat '",".join(str(r["fired"]) for r in s["rules"])')
[ "$fired" = "3,2,3,2,2" ] ||
  fail "the proxy injected $fired faults (SlowDown PUT, reset PUT, SlowDown GET, reset GET, truncated GET), expected 3,2,3,2,2"
n=$(grep -c "usbd\[$f_PID\]: debug: write of block .*attempt 1 failed.*503.*SlowDown.*retrying" \
  "$TMP/usbd.log" || true)
[ "$n" -ge 3 ] || fail "log shows $n retried PUT SlowDowns, expected 3"
n=$(grep -c "usbd\[$f_PID\]: debug: read of block .*attempt 1 failed.*503.*SlowDown.*retrying" \
  "$TMP/usbd.log" || true)
[ "$n" -ge 3 ] || fail "log shows $n retried GET SlowDowns, expected 3"
! grep -q "usbd\[$f_PID\]: error:" "$TMP/usbd.log" ||
  fail "transient faults logged an error: $(grep "usbd\[$f_PID\]: error:" "$TMP/usbd.log" | head -3)"
fault_clear
stop_named f

# 5a'. Uploads damaged on the way (one byte of the body changed, its
#     Content-MD5 and signed SHA-256 kept): the server refuses them and usbd
#     sends them again. moto checks neither and would keep the damage, so
#     this runs on radosgw only.
if [ "$S3_SERVER" = rgw ]; then
  make_random_file "$TMP/g.raw" $((4 * FBS)) 33 || true
  start_named f "${FLT[@]}" --debug flt
  fault_set '{"mode":"corrupt","methods":"PUT","path":"'"$BLOCKS"'","count":3}'
  expect_op ok "$f_URI" write 0 $((4 * FBS)) "$TMP/g.raw"
  fired=$(fault_stat 's["rules"][0]["fired"]')
  [ "$fired" = 3 ] || fail "the proxy damaged $fired uploads, expected 3"
  n=$(grep -c "usbd\[$f_PID\]: debug: write of block .*attempt 1 failed.*HTTP 400.*\(BadDigest\|XAmzContentSHA256Mismatch\).*retrying" \
    "$TMP/usbd.log" || true)
  [ "$n" -ge 1 ] || fail "log shows $n damaged uploads refused and retried, expected some"
  fault_clear
  expect_op ok "$f_URI" read 0 $((4 * FBS)) "$TMP/g.raw"
  expect_op ok "$f_URI" write 0 $((4 * FBS)) "$TMP/f.raw"  # what 5b reads
  stop_named f
else
  echo "note: $S3_SERVER does not check uploads against their Content-MD5: damaged uploads were not tried" >&2
fi

# 5b. Permanent faults with a 2 s budget.
start_named f "${FLT[@]}" --maxRetryPause=2000 --initialRetryPause=100 \
  --timeout=2 flt
[ "$(nbdinfo --size "$f_URI")" -eq $FSIZE ] || fail "flt volume has the wrong size"

# Every PUT fails with 500: the write fails with EIO once the budget is spent.
fault_set '{"mode":"500","methods":"PUT","count":-1}'
t0=$(now_ms)
expect_op EIO "$f_URI" write $((5 * FBS)) $FBS
elapsed=$(($(now_ms) - t0))
[ $elapsed -ge 1500 ] && [ $elapsed -lt 10000 ] ||
  fail "write under a permanent 500 failed after $elapsed ms, expected about 2000"
grep -q "usbd\[$f_PID\]: error: write of block 5 (0x5) (object fp-[0-9a-f]*) failed after [0-9]* attempts.*giving up.*fp-00000005.*500" \
  "$TMP/usbd.log" || fail "the log does not name block 5 (fp-00000005) and its 500"
n=$(grep "usbd\[$f_PID\]: error: write of block 5 (0x5) (object fp-[0-9a-f]*) failed after" "$TMP/usbd.log" |
  sed -n 's/.* failed after \([0-9]*\) attempts.*/\1/p' | head -1)
[ "${n:-0}" -ge 2 ] || fail "the write was not retried before giving up"
kill -0 "$f_PID" 2>/dev/null || fail "usbd died after a failed write"
# The same as seen by qemu-io and nbdcopy (one block, at 0 and 6).
out=$(qemu-io -f raw -c "write -P 7 $((6 * FBS)) $FBS" "$f_URI" 2>&1) &&
  fail "qemu-io write under a permanent 500 succeeded: $out"
grep -q "Input/output error" <<<"$out" ||
  fail "qemu-io write under a permanent 500: $out"
head -c $FBS /dev/zero | tr '\0' 'z' >"$TMP/one.raw"
nbdcopy "$TMP/one.raw" "$f_URI" 2>"$TMP/nbdcopy.err" &&
  fail "nbdcopy under a permanent 500 succeeded"
grep -qi "input/output error" "$TMP/nbdcopy.err" ||
  fail "nbdcopy under a permanent 500 did not report EIO: $(cat "$TMP/nbdcopy.err")"
# Reads are not affected meanwhile, and the failed writes changed nothing.
expect_op ok "$f_URI" read 0 $((4 * MIB)) "$TMP/f.raw"
fault_clear
# Once the store answers again, writes work (the old data goes back).
expect_op ok "$f_URI" write $((5 * FBS)) $((2 * FBS)) "$TMP/f.raw"
expect_op ok "$f_URI" read $((4 * FBS)) $((4 * FBS)) "$TMP/f.raw"

# A permanent 500 on one object's GET: that block's reads fail, no others.
fault_set '{"mode":"500","methods":"GET","path":"fp-00000007","count":-1}'
expect_op EIO "$f_URI" read $((7 * FBS)) 4096
expect_op ok "$f_URI" read $((8 * FBS)) $FBS "$TMP/f.raw"
grep -q "usbd\[$f_PID\]: error: read of block 7 (0x7) (object fp-[0-9a-f]*) failed after.*fp-00000007" \
  "$TMP/usbd.log" || fail "the log does not name block 7 (fp-00000007)"
fault_clear
expect_op ok "$f_URI" read $((7 * FBS)) $FBS "$TMP/f.raw"

# A store that stalls (longer than --timeout): EIO within the budget.
fault_set '{"mode":"stall","methods":"GET","seconds":5,"count":-1}'
t0=$(now_ms)
expect_op EIO "$f_URI" read $((9 * FBS)) 4096
elapsed=$(($(now_ms) - t0))
[ $elapsed -lt 10000 ] || fail "read from a stalled store took $elapsed ms"
fault_clear

# An unreachable store: requests fail with EIO after the budget; usbd lives.
port=$PROXY_PORT
stop_fault_proxy
t0=$(now_ms)
expect_op EIO "$f_URI" read $((10 * FBS)) $FBS
expect_op EIO "$f_URI" write $((11 * FBS)) $FBS "$TMP/f.raw"
elapsed=$(($(now_ms) - t0))
[ $elapsed -lt 20000 ] ||
  fail "two requests to an unreachable store took $elapsed ms"
grep -q "usbd\[$f_PID\]: error: read of block 10 (0xa) (object fp-[0-9a-f]*) failed after" "$TMP/usbd.log" ||
  fail "the log does not name block 10 after the store became unreachable"
kill -0 "$f_PID" 2>/dev/null || fail "usbd died while the store was unreachable"
start_fault_proxy "$S3_ENDPOINT" "$port"
rm -f "$TMP/fout.raw"
nbdcopy "$f_URI" "$TMP/fout.raw" || fail "nbdcopy after the store came back failed"
cmp "$TMP/f.raw" "$TMP/fout.raw" || fail "data differs after the faults"
stop_named f

# --- 6. Erase ---------------------------------------------------------------------
"$USBD" --erase --force "${S3[@]}" vol >>"$TMP/usbd.log" 2>&1 ||
  fail "--erase --force vol failed"
expect_keys vol "after --erase" 0
"$USBD" --erase --force "${S3[@]}" --prefix=fp- flt >>"$TMP/usbd.log" 2>&1 ||
  fail "--erase --force flt --prefix=fp- failed"
expect_keys flt "after --erase" 0
# An erased volume is new again: it needs --size.
refused "$TMP/erased.out" "${S3[@]}" vol
grep -q -- "--size" "$TMP/erased.out" ||
  fail "starting an erased volume without --size: $(cat "$TMP/erased.out")"
expect_keys vol "after a refused start" 0

! grep -qF -- "$S3_SECRET" "$TMP/usbd.log" || fail "the secret appears in usbd's log"
finish_test
