#!/bin/bash
# nbdinfo --map (base:allocation) shows holes where nothing was written:
# a fresh volume is one "hole,zero" extent; written blocks become data, the
# rest stays hole; trimmed blocks are holes again. Writes come from qemu-io
# (at chosen offsets) and from nbdcopy (a sparse image).
source "$(dirname "$0")/lib.sh"
require_tool nbdinfo nbdcopy qemu-io

KIB=1024
MIB=$((1024 * 1024))
SIZE=$((64 * MIB))
BS=$((256 * KIB))

# The map as "start length type" lines, adjacent extents of one type merged.
map() {
  nbdinfo --map "$URI" | awk '
    { if (n && $3 == type && $1 == start + len) { len += $2; next }
      if (n) print start, len, type
      start = $1; len = $2; type = $3; n = 1 }
    END { if (n) print start, len, type }'
}

expect_map() {  # WHAT EXPECTED
  local got
  got=$(map) || fail "nbdinfo --map failed ($1)"
  if [ "$got" != "$2" ]; then
    echo "expected map ($1):" >&2
    echo "$2" >&2
    echo "got:" >&2
    echo "$got" >&2
    fail "unexpected map $1"
  fi
}

qio() { qemu-io -f raw "$@" "$URI" >/dev/null || fail "qemu-io $* failed"; }

start_usbd --memory --size=$SIZE --blockSize=$BS vol

# 1. Fresh volume: one hole covering everything.
expect_map "of a fresh volume" "0 $SIZE 3"
nbdinfo --map "$URI" | grep -q 'hole,zero' ||
  fail "nbdinfo does not describe the fresh volume as hole,zero"

# 2. Writes: one whole block at 1 MiB, four blocks at 8 MiB, and 100 bytes in
#    the middle of the block at 20 MiB (which makes that block data).
qio -c "write -P 1 $((1 * MIB)) $BS" \
    -c "write -P 2 $((8 * MIB)) $((4 * BS))" \
    -c "write -P 3 $((20 * MIB + 100)) 100"
expect_map "after writes" "0 $((1 * MIB)) 3
$((1 * MIB)) $BS 0
$((1 * MIB + BS)) $((7 * MIB - BS)) 3
$((8 * MIB)) $((4 * BS)) 0
$((9 * MIB)) $((11 * MIB)) 3
$((20 * MIB)) $BS 0
$((20 * MIB + BS)) $((SIZE - 20 * MIB - BS)) 3"

# 3. Trim (discard) brings the holes back, block by block.
qio -c "discard $((8 * MIB + BS)) $((2 * BS))"
expect_map "after trimming two blocks" "0 $((1 * MIB)) 3
$((1 * MIB)) $BS 0
$((1 * MIB + BS)) $((7 * MIB - BS)) 3
$((8 * MIB)) $BS 0
$((8 * MIB + BS)) $((2 * BS)) 3
$((8 * MIB + 3 * BS)) $BS 0
$((9 * MIB)) $((11 * MIB)) 3
$((20 * MIB)) $BS 0
$((20 * MIB + BS)) $((SIZE - 20 * MIB - BS)) 3"
qio -c "discard 0 $SIZE"
expect_map "after trimming everything" "0 $SIZE 3"

# 4. nbdcopy of a sparse image: only its data blocks become data.
truncate -s $SIZE "$TMP/sparse.raw"
printf 'data at 32 MiB' | dd of="$TMP/sparse.raw" bs=1 seek=$((32 * MIB)) \
  conv=notrunc status=none
head -c $((3 * BS)) /dev/urandom | dd of="$TMP/sparse.raw" bs=1M seek=48 \
  conv=notrunc status=none
nbdcopy "$TMP/sparse.raw" "$URI" || fail "nbdcopy of a sparse image failed"
expect_map "after nbdcopy of a sparse image" "0 $((32 * MIB)) 3
$((32 * MIB)) $BS 0
$((32 * MIB + BS)) $((16 * MIB - BS)) 3
$((48 * MIB)) $((3 * BS)) 0
$((48 * MIB + 3 * BS)) $((SIZE - 48 * MIB - 3 * BS)) 3"

# 5. --totals agrees: 4 blocks of data, the rest holes.
totals=$(nbdinfo --map --totals "$URI" | awk '{print $1, $3}' | sort -k2)
[ "$totals" = "$((4 * BS)) 0
$((SIZE - 4 * BS)) 3" ] || fail "unexpected --totals: $totals"

stop_usbd
echo "PASS: $TEST_NAME"
