#!/bin/bash
# The S3 tests on Ceph's RADOS Gateway, a real distributed S3 engine (a
# throwaway one-node cluster: servers.sh, start_rgw), so S3 coverage does
# not hang on moto_server. Each script runs with S3_SERVER=rgw and starts
# its own cluster (about 2 s):
#   s3_nbd.sh with S3_STYLE=vhost   virtual-host addressing (BUCKET.localhost):
#       nbdcopy round trip, --listBlocks map, geometry from the volume,
#       mount token, wrong secret (SignatureDoesNotMatch), --accessKey,
#       --blockCacheSync, SSE-KMS (radosgw's testing KMS), --erase; the
#       faults through the proxy in path style
#   http_store.sh (S3 tests)        the object-store contract, listing past
#       1000 keys, credentials, missing bucket, volume create/detect/erase
#   mount_token.sh                  takeover of its own stale token after
#       kill -9 with the data only in the cache file (crash recovery: every
#       byte back), refusal of a live holder, of another cache file, of
#       another machine's token
#   encoding.sh                     --compress + --encrypt, no plaintext in
#       the bucket, wrong password refused
#   filesystem.sh with FS_STORE=s3  mkfs.ext4 + mount (nbdfuse, -o loop),
#       fsck and checksums after a restart
#   s3backer_compat.sh              s3backer's own buckets on radosgw,
#       adopted and refused both ways
#   integrity.sh                    corrupt GET bodies retried, a corrupt
#       object refused by its ETag
# Every script runs even when one before it fails; the test fails if one
# did. SKIP (77) only when radosgw is not installed; a script that skips
# for a tool of its own is reported, loudly, and does not fail the test.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_rgw

declare -a FAILED=() SKIPPED=()
# run SCRIPT [VAR=VALUE...] [-- ARGS...]: SCRIPT with S3_SERVER=rgw.
run() {
  local script=$1 vars=() args=() status=0 t0
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  [ $# -eq 0 ] || { shift; args=("$@"); }
  echo "=== $script on radosgw ${vars[*]}" >&2
  t0=$(now_ms)
  env S3_SERVER=rgw "${vars[@]}" bash "$(dirname "$0")/$script" "${args[@]}" ||
    status=$?
  echo "=== $script: status $status after $((($(now_ms) - t0) / 1000)) s" >&2
  case $status in
    0) ;;
    77) SKIPPED+=("$script") ;;
    *) FAILED+=("$script ${vars[*]}") ;;
  esac
}

run s3_nbd.sh S3_STYLE=vhost
run http_store.sh -- --gtest_filter='S3Test.*:VolumeS3Test.*'
run mount_token.sh
run encoding.sh
run filesystem.sh FS_STORE=s3
run s3backer_compat.sh
run integrity.sh

[ ${#SKIPPED[@]} -eq 0 ] ||
  echo "SKIP (part): $TEST_NAME: ${SKIPPED[*]} skipped (see above why)" >&2
[ ${#FAILED[@]} -eq 0 ] || fail "on radosgw: ${FAILED[*]} failed (see above)"
echo "PASS: $TEST_NAME"
