#!/bin/bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each
# briefly from generated seeds: the NBD handshake and request parser
# (fuzz_nbd), then the block object header and decode paths (fuzz_object).
# Any crash, leak or sanitizer report fails the test.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
clangxx=${CLANGXX:-$(command -v clang++ || true)}
if [ -z "$clangxx" ]; then
  echo "SKIP: fuzz.sh needs clang++ (Debian package clang) for libFuzzer" >&2
  exit 77
fi
tmp=$(mktemp -d /tmp/usbd-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
src="$top_srcdir/src"
if ! "$clangxx" -std=c++20 -g -O1 -D_GNU_SOURCE -I"$src" -pthread \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "$top_srcdir/tests/fuzz/fuzz_nbd.cc" \
    "$src"/nbd/connection.cc "$src"/nbd/handshake.cc "$src"/nbd/frontend.cc \
    "$src"/store/memory_store.cc "$src"/store/block_store.cc \
    "$src"/util/status.cc "$src"/util/fd.cc "$src"/util/log.cc \
    -o "$tmp/fuzz_nbd" 2>"$tmp/build.log"; then
  if grep -q "fuzzer" "$tmp/build.log" && grep -qi "cannot find\|not found" "$tmp/build.log"; then
    echo "SKIP: clang's libFuzzer runtime is missing (Debian package libclang-rt-14-dev)" >&2
    exit 77
  fi
  cat "$tmp/build.log" >&2
  exit 1
fi
python3 "$top_srcdir/tests/fuzz/make_seeds.py" "$tmp/corpus"
"$tmp/fuzz_nbd" -max_total_time="${FUZZ_SECONDS:-30}" -timeout=10 \
  -rss_limit_mb=4096 -print_final_stats=1 "$tmp/corpus" 2>&1 | tail -n 15
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"

# The block object target (codec and crypto layers; zstd and OpenSSL).
if ! "$clangxx" -std=c++20 -g -O1 -D_GNU_SOURCE -I"$src" -pthread \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "$top_srcdir/tests/fuzz/fuzz_object.cc" \
    "$src"/codec/object_format.cc "$src"/codec/block_codec.cc \
    "$src"/crypto/object_cipher.cc "$src"/crypto/secret_key.cc \
    "$src"/util/status.cc "$src"/util/log.cc \
    -lzstd -lcrypto -o "$tmp/fuzz_object" 2>"$tmp/build_object.log"; then
  cat "$tmp/build_object.log" >&2
  exit 1
fi
mkdir -p "$tmp/corpus_object"
USBD_FUZZ_SEEDS="$tmp/corpus_object" "$tmp/fuzz_object"
"$tmp/fuzz_object" -max_total_time="${FUZZ_OBJECT_SECONDS:-${FUZZ_SECONDS:-20}}" \
  -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
  "$tmp/corpus_object" 2>&1 | tail -n 15
exit "${PIPESTATUS[0]}"
