#!/usr/bin/env bash
# The compress+encrypt pipeline's throughput per core (bench/codec_bench,
# the layers' own code) beside `zstd -b` and `openssl speed -evp
# aes-256-gcm` on the same data, the same machine, in one run.
#
#   bench/codec.sh [--level=N] [--block-size=BYTES] [--mib=N] [--seconds=S]
#                  [--runs=N]
#
# Every number is the best of --runs runs (default 3), each tool's runs
# interleaved with the others', so a busy machine disturbs all alike.
#
# Build the program first: make bench/codec_bench
#
# What zstd and OpenSSL imply for the pipeline: writing a block compresses
# all of it, then encrypts what is left (1/ratio of it), so
#   implied write MB/s = 1 / (1/zstd_compress + (1/ratio)/aes_encrypt)
#   implied read MB/s  = 1 / (1/zstd_decompress + (1/ratio)/aes_decrypt)
# with ratio the pipeline's own (its objects are what gets encrypted). The
# target: the pipeline within 15% of that (>= 85%).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=${CODEC_BENCH:-$script_dir/codec_bench}
level=1
block_size=262144
mib=256
seconds=2
runs=3

for arg in "$@"; do
  case $arg in
    --level=*) level=${arg#*=} ;;
    --block-size=*) block_size=${arg#*=} ;;
    --mib=*) mib=${arg#*=} ;;
    --seconds=*) seconds=${arg#*=} ;;
    --runs=*) runs=${arg#*=} ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "codec.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

[[ -x $bench ]] ||
  { echo "codec.sh: no $bench (build it: make bench/codec_bench)" >&2; exit 1; }
for tool in zstd openssl awk; do
  command -v "$tool" >/dev/null ||
    { echo "codec.sh: $tool not found (apt-get install zstd openssl gawk)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/usbd-codec-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }
aes() {  # MB/s of `openssl speed` at the block size; $1 empty or -decrypt
  openssl speed $1 -evp aes-256-gcm -bytes "$block_size" -seconds "$seconds" \
    -mr 2>/dev/null | awk -F: '/^\+F:/ { printf "%.1f", $4 / 1e6 }'
}
keys="ratio compress_mbps decompress_mbps pipeline_write_mbps pipeline_read_mbps"
declare -A ours
zstd_ratio=0 zstd_c=0 zstd_d=0 aes_enc=0 aes_dec=0
for ((run = 0; run < runs; run++)); do
  data=()
  [[ $run == 0 ]] && data=(--data="$work/data")
  "$bench" --level="$level" --block-size="$block_size" --mib="$mib" \
    --seconds="$seconds" "${data[@]}" >"$work/ours.txt"
  for key in $keys; do
    value=$(awk -F= -v k="$key" '$1 == k { print $2 }' "$work/ours.txt")
    ours[$key]=$(best "${ours[$key]:-0}" "$value")
  done
  # zstd -b: independent chunks of the block size, like the layer's blocks.
  zstd -b"$level" -B"$block_size" -i"$seconds" "$work/data" 2>&1 |
    tr '\r' '\n' | grep -E 'MB/s, *[0-9.]+ MB/s' | tail -n 1 >"$work/zstd.txt"
  read -r r c d < <(sed -E \
    's/.*\(x([0-9.]+)\), *([0-9.]+) MB\/s, *([0-9.]+) MB\/s.*/\1 \2 \3/' \
    "$work/zstd.txt")
  zstd_ratio=$r zstd_c=$(best "$zstd_c" "$c") zstd_d=$(best "$zstd_d" "$d")
  aes_enc=$(best "$aes_enc" "$(aes "")")
  aes_dec=$(best "$aes_dec" "$(aes -decrypt)")
done

awk -v ratio="${ours[ratio]}" -v zc="$zstd_c" -v zd="$zstd_d" \
    -v ae="$aes_enc" -v ad="$aes_dec" -v zr="$zstd_ratio" \
    -v w="${ours[pipeline_write_mbps]}" -v r="${ours[pipeline_read_mbps]}" \
    -v oc="${ours[compress_mbps]}" -v od="${ours[decompress_mbps]}" \
    -v runs="$runs" -v level="$level" -v bs="$block_size" -v mib="$mib" 'BEGIN {
  iw = 1 / (1 / zc + (1 / ratio) / ae)
  ir = 1 / (1 / zd + (1 / ratio) / ad)
  printf "codec pipeline, one core, best of %d: zstd level %d, %d-byte blocks,\n", runs, level, bs
  printf "%d MiB of text, text+zeros and random blocks\n", mib
  printf "%-34s %10s %10s\n", "", "write", "read"
  printf "%-34s %10.1f %10.1f MB/s (ratio x%.3f)\n", "zstd -b (compress / decompress)", zc, zd, zr
  printf "%-34s %10.1f %10.1f MB/s\n", "openssl speed aes-256-gcm (enc/dec)", ae, ad
  printf "%-34s %10.1f %10.1f MB/s\n", "usbd zstd alone", oc, od
  printf "%-34s %10.1f %10.1f MB/s (ratio x%.3f)\n", "implied by zstd + openssl", iw, ir, ratio
  printf "%-34s %10.1f %10.1f MB/s\n", "usbd compress+encrypt pipeline", w, r
  pw = 100 * w / iw; pr = 100 * r / ir
  printf "%-34s %9.0f%% %9.0f%%   target >= 85%%: %s\n", "pipeline / implied", pw, pr,
         (pw >= 85 && pr >= 85) ? "met" : "MISSED"
}'
