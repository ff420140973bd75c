#!/usr/bin/env bash
# Benchmark of the block cache, in one run: usbd with a warm persistent
# cache over the local directory store against usbd over the memory store
# with no cache, with fio's nbd engine; then the start-up time of a cache
# holding 1 million blocks and the resident memory of a 10 GiB cache on a
# 1 TiB volume (bench/cache_startup).
#
#   bench/cache.sh [--usbd=PATH] [--runtime=S] [--rounds=N] [--size=SIZE]
#                  [--cache-args='...'] [--quick] [--no-startup] [--keep]
#
# Target (issue 4): the cache costs at most 20% on every row (ratio >= 0.80).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$script_dir/..
usbd=${USBD:-$top/usbd}
runtime=12
rounds=3
size=1G
startup=1
keep=0
extra_args=()

for arg in "$@"; do
  case $arg in
    --usbd=*) usbd=${arg#*=} ;;
    --runtime=*) runtime=${arg#*=} ;;
    --rounds=*) rounds=${arg#*=} ;;
    --size=*) size=${arg#*=} ;;
    --cache-args=*) read -r -a extra_args <<<"${arg#*=}" ;;
    --quick) runtime=3 rounds=1 ;;
    --no-startup) startup=0 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cache.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
for tool in fio nbdinfo python3; do
  command -v "$tool" >/dev/null ||
    { echo "cache.sh: $tool not found (apt-get install fio libnbd-bin)" >&2; exit 1; }
done
[[ -x $usbd ]] || { echo "cache.sh: no usbd at $usbd (make usbd)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/usbd-cache-bench.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $keep == 1 ]]; then echo "results kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

bytes=$(numfmt --from=iec "$size")
block=262144
blocks=$((bytes / block))
slots=$((blocks + blocks / 8))  # the whole volume fits: a warm cache
cache_args=(--blockSize=$block --blockCacheFile="$work/cache"
            --blockCacheSize=$slots "${extra_args[@]}")
mkdir "$work/store"
# Copies: others may relink the tree's binaries while this runs.
cp "$usbd" "$work/usbd"
help=$("$work/usbd" --help 2>&1 || true)
[[ $help == *--blockCacheFile* ]] ||
  { echo "cache.sh: this usbd has no --blockCacheFile" >&2; exit 1; }
cached_cmd=("$work/usbd" -f --quiet --listen="unix:$work/cache.sock"
            --test --size="$bytes" "${cache_args[@]}" "$work/store")
cached_name="usbd --test (local directory store) with a persistent cache"
"${cached_cmd[@]}" 2>"$work/cache.log" &
cache_pid=$!
pids+=("$cache_pid")
"$work/usbd" -f --quiet --memory --size="$bytes" --blockSize=$block \
  --listen="unix:$work/memory.sock" bench 2>"$work/memory.log" &
memory_pid=$!
pids+=("$memory_pid")

wait_ready() {  # NAME PID SOCK
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$2" 2>/dev/null || { echo "cache.sh: $1 exited" >&2; cat "$work/$1.log" >&2; exit 1; }
    nbdinfo --size "nbd+unix:///?socket=$3" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "cache.sh: $1 not ready" >&2; exit 1
}
wait_ready cache "$cache_pid" "$work/cache.sock"
wait_ready memory "$memory_pid" "$work/memory.sock"

fio_run() {  # SERVER NAME FIO-ARGS...
  local server=$1 name=$2
  shift 2
  fio --name="$name" --ioengine=nbd --uri="nbd+unix:///?socket=$work/$server.sock" \
    --size="$bytes" --output-format=json --output="$work/$name.$server.json" \
    "$@" >"$work/$name.$server.out" 2>&1 ||
    { echo "cache.sh: fio $name on $server failed" >&2; cat "$work/$name.$server.out" >&2; exit 1; }
}

echo "cached: $cached_name, $size volume, $slots slots of 256 KiB"
echo "baseline: usbd --memory, no cache; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm-up: both volumes written once; then the cache's write-back must
# have stored every block, so the timed rows start from a warm, clean cache.
fio_run cache prefill --rw=write --bs=1M --iodepth=8
fio_run memory prefill --rw=write --bs=1M --iodepth=8
for ((i = 0; i < 600; i++)); do
  [[ $(find "$work/store" -type f | wc -l) -ge $blocks ]] && break
  sleep 0.1
done

slice=$(awk "BEGIN { s = $runtime / $rounds; print (s < 1 ? 1 : s) }")
timed=(--time_based --runtime="$slice")
rand=(--bs=4k --iodepth=32 --numjobs=4 --group_reporting --norandommap --randrepeat=0)
rows=(seqwrite seqread randread randwrite)
declare -A args=(
  [seqwrite]="--rw=write --bs=1M --iodepth=8 ${timed[*]}"
  [seqread]="--rw=read --bs=1M --iodepth=8 ${timed[*]}"
  [randread]="--rw=randread ${rand[*]} ${timed[*]}"
  [randwrite]="--rw=randwrite ${rand[*]} ${timed[*]}"
)
for row in "${rows[@]}"; do
  for ((r = 1; r <= rounds; r++)); do
    order=(cache memory)
    ((r % 2 == 0)) && order=(memory cache)
    for server in "${order[@]}"; do
      # shellcheck disable=SC2086
      fio_run "$server" "$row.$r" ${args[$row]}
    done
  done
done

python3 - "$work" "$rounds" "${rows[@]}" <<'EOF'
import json, sys
work, rounds, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
labels = {"seqwrite": ("seq write 1M qd8", "MiB/s", "write"),
          "seqread": ("seq read 1M qd8", "MiB/s", "read"),
          "randread": ("rand read 4k qd32 x4", "IOPS", "read"),
          "randwrite": ("rand write 4k qd32 x4", "IOPS", "write")}
def best(row, server):
    _, unit, kind = labels[row]
    values = []
    for r in range(1, rounds + 1):
        job = json.load(open(f"{work}/{row}.{r}.{server}.json"))["jobs"][0][kind]
        values.append(job["bw"] / 1024 if unit == "MiB/s" else job["iops"])
    return max(values)
print(f"{'row':24} {'cache':>10} {'memory':>10} {'ratio':>6}  target 0.80")
worst = 9.0
for row in rows:
    c, m = best(row, "cache"), best(row, "memory")
    ratio = c / m if m else 0
    worst = min(worst, ratio)
    print(f"{labels[row][0]:24} {c:10.0f} {m:10.0f} {ratio:6.2f}  "
          f"{'ok' if ratio >= 0.8 else 'MISSED'}  ({labels[row][1]})")
EOF

if [[ $startup == 1 ]]; then
  tool=$top/bench/cache_startup
  [[ -x $tool ]] || { echo "cache.sh: make bench/cache_startup for the start-up rows" >&2; exit 0; }
  mkdir "$work/startup"
  "$tool" "$work/startup" 1000000 1024
  rm -rf "$work/startup"
  mkdir "$work/startup"
  "$tool" "$work/startup" 40000 262144
fi
