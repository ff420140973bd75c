#!/bin/bash
# nbdkit sparse-random (1 GiB, fixed seed) copied into a --test directory
# volume with nbdcopy, then verified by copying back into sparse-random with
# the same seed: that plugin checks every write against the data it would
# itself return and fails it with EIO if it differs, and fails trim/zero of
# any block that is not a hole (nbdkit-sparse-random-plugin(1)). So nbdcopy
# succeeds only if usbd returns exactly the data and reports holes only
# where the source had holes. Checked again after restarting usbd on the
# same directory (persistence).
source "$(dirname "$0")/lib.sh"
require_tool nbdkit nbdcopy nbdinfo
nbdkit --dump-plugin sparse-random >/dev/null 2>&1 || {
  echo "SKIP: $TEST_NAME needs the nbdkit sparse-random plugin" >&2
  exit 77
}

SIZE=$((1024 * 1024 * 1024))
SEED=4242

# copy_with_sparse_random SEED DIRECTION: nbdcopy between a fresh
# sparse-random instance and usbd ("in": into usbd, "out": back out).
copy_with_sparse_random() {
  local seed=$1 direction=$2 cmd
  if [ "$direction" = in ]; then
    cmd="nbdcopy --flush \"\$uri\" \"$URI\""
  else
    cmd="nbdcopy \"$URI\" \"\$uri\""
  fi
  timeout 120 nbdkit -U - sparse-random size=$SIZE seed="$seed" --run "$cmd"
}

mkdir "$TMP/store"
start_usbd --test --size=$SIZE "$TMP/store"

copy_with_sparse_random $SEED in || fail "nbdcopy sparse-random -> usbd failed"
copy_with_sparse_random $SEED out ||
  fail "usbd's data does not verify against sparse-random seed=$SEED"

# The verifier must be able to fail: the same data checked against another
# seed has to be rejected.
if copy_with_sparse_random $((SEED + 1)) out 2>/dev/null; then
  fail "verification against the wrong seed passed: the check is not working"
fi

# Holes stayed holes: sparse-random is ~10% data, so most of the volume
# must be reported as hole, and the directory must hold only the data.
hole_bytes=$(nbdinfo --map --totals "$URI" | awk '$3 == 3 {print $1}')
[ -n "$hole_bytes" ] && [ "$hole_bytes" -gt $((SIZE / 2)) ] ||
  fail "only '${hole_bytes:-0}' bytes reported as holes after a sparse copy"
used_kib=$(du -sk "$TMP/store" | awk '{print $1}')
[ "$used_kib" -lt $((SIZE / 1024 / 2)) ] ||
  fail "the directory store uses ${used_kib} KiB for a mostly empty volume"

# Persistence: SIGTERM (exit 0), restart on the same directory, verify again.
stop_usbd
start_usbd --test --size=$SIZE "$TMP/store"
copy_with_sparse_random $SEED out ||
  fail "data does not verify after restarting usbd on the same directory"
stop_usbd
echo "PASS: $TEST_NAME"
