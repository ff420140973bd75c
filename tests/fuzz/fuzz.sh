#!/bin/bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each
# briefly from seeds: the NBD handshake and request parser (fuzz_nbd), the
# block object header and decode paths (fuzz_object) and the S3 XML parser
# (fuzz_s3_xml). Any crash, leak or sanitizer report fails the test.
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

build() {  # NAME SOURCES... [-lLIBS]: builds $tmp/NAME from tests/fuzz/NAME.cc
  local name=$1
  shift
  if ! "$clangxx" -std=c++20 -g -O1 -D_GNU_SOURCE -I"$src" -pthread \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      "$top_srcdir/tests/fuzz/$name.cc" "$@" \
      "$src"/util/status.cc "$src"/util/log.cc "$src"/util/strings.cc \
      -o "$tmp/$name" 2>"$tmp/$name.build.log"; then
    if grep -qi "libclang_rt.fuzzer\|cannot find -l.*fuzzer" "$tmp/$name.build.log"; then
      echo "SKIP: clang's libFuzzer runtime is missing (Debian package libclang-rt-14-dev)" >&2
      exit 77
    fi
    cat "$tmp/$name.build.log" >&2
    exit 1
  fi
}

run() {  # NAME SECONDS CORPUS
  # -error_exitcode: libFuzzer's default, 77, would read as SKIP to automake.
  # -artifact_prefix: a crash input lands in $tmp, printed below, not in the tree.
  local status=0
  "$tmp/$1" -max_total_time="$2" -timeout=10 -error_exitcode=1 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$tmp/" "$3" \
    >"$tmp/$1.log" 2>&1 || status=$?
  tail -n 12 "$tmp/$1.log"
  if [ $status -ne 0 ]; then
    echo "FAIL: $1 found a failing input:" >&2
    grep -E "ERROR|SUMMARY|Test unit written" "$tmp/$1.log" >&2 || true
    for artifact in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-*; do
      [ -f "$artifact" ] && od -A x -t x1z "$artifact" | head -n 20 >&2
    done
    exit 1
  fi
}

build fuzz_nbd "$src"/nbd/connection.cc "$src"/nbd/handshake.cc \
  "$src"/nbd/frontend.cc "$src"/store/memory_store.cc \
  "$src"/util/fd.cc
python3 "$top_srcdir/tests/fuzz/make_seeds.py" "$tmp/corpus_nbd"
run fuzz_nbd "${FUZZ_SECONDS:-30}" "$tmp/corpus_nbd"

build fuzz_object "$src"/codec/object_format.cc "$src"/codec/block_codec.cc \
  "$src"/util/xxh64.cc "$src"/util/hex.cc \
  "$src"/crypto/object_cipher.cc "$src"/crypto/secret_key.cc -lzstd -lcrypto
mkdir -p "$tmp/corpus_object"
USBD_FUZZ_SEEDS="$tmp/corpus_object" "$tmp/fuzz_object"
run fuzz_object "${FUZZ_OBJECT_SECONDS:-${FUZZ_SECONDS:-20}}" "$tmp/corpus_object"

build fuzz_s3_xml "$src"/http/s3_xml.cc
mkdir -p "$tmp/corpus_xml"
run fuzz_s3_xml "${FUZZ_XML_SECONDS:-10}" "$tmp/corpus_xml"
