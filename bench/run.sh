#!/usr/bin/env bash
# Benchmark usbd against nbdkit's memory plugin, in one run, with fio's nbd
# engine over unix sockets. See bench/README.md.
#
#   bench/run.sh [--usbd=PATH] [--runtime=S] [--quick] [--perf]
#                [--usbd-args='...'] [--keep]
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usbd=${USBD:-$script_dir/../usbd}
runtime=12
size=4G
usbd_args=()
perf=0
keep=0

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

  --usbd=PATH       usbd binary (default: $USBD, else ../usbd beside this script)
  --runtime=S       seconds per time-based row (default 12)
  --quick           3 s per row: a smoke test of the script, not a result
  --usbd-args=ARGS  extra usbd options, e.g. --usbd-args=--nbdThreads=16
  --perf            also `perf record -g` usbd during each of its rows
                    (files perf-ROW.data in the results directory; implies --keep)
  --keep            keep the results directory (fio JSON, server logs)
EOF
}

for arg in "$@"; do
  case $arg in
    --usbd=*) usbd=${arg#*=} ;;
    --runtime=*) runtime=${arg#*=} ;;
    --quick) runtime=3 ;;
    --usbd-args=*) read -r -a usbd_args <<<"${arg#*=}" ;;
    --perf) perf=1; keep=1 ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

[[ $runtime =~ ^[0-9]+$ && $runtime -gt 0 ]] ||
  { echo "run.sh: --runtime wants a positive whole number of seconds" >&2; exit 2; }
[[ -x $usbd ]] || { echo "run.sh: no usbd binary at $usbd (build it: make usbd)" >&2; exit 1; }
for tool in fio nbdkit nbdinfo python3; do
  command -v "$tool" >/dev/null ||
    { echo "run.sh: $tool not found (apt-get install fio nbdkit libnbd-bin python3)" >&2; exit 1; }
done
if [[ $perf == 1 ]] && ! command -v perf >/dev/null; then
  echo "run.sh: --perf needs perf (apt-get install linux-perf)" >&2; exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/usbd-bench.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $keep == 1 ]]; then
    echo "results kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

usbd_sock=$work/usbd.sock
nbdkit_sock=$work/nbdkit.sock
uri_usbd="nbd+unix:///?socket=$usbd_sock"
uri_nbdkit="nbd+unix:///?socket=$nbdkit_sock"

"$usbd" -f --quiet --memory --size="$size" "${usbd_args[@]}" \
  --listen="unix:$usbd_sock" bench 2>"$work/usbd.log" &
usbd_pid=$!
pids+=("$usbd_pid")
nbdkit -U "$nbdkit_sock" -f memory "$size" 2>"$work/nbdkit.log" &
nbdkit_pid=$!
pids+=("$nbdkit_pid")

# Ready = the process lives and a client completes the NBD handshake.
wait_ready() {  # NAME PID URI LOG
  local i
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "run.sh: $1 exited before serving:" >&2; cat "$4" >&2; exit 1
    fi
    if nbdinfo --size "$3" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "run.sh: $1 not ready after 10 s:" >&2; cat "$4" >&2; exit 1
}
wait_ready usbd "$usbd_pid" "$uri_usbd" "$work/usbd.log"
wait_ready nbdkit "$nbdkit_pid" "$uri_nbdkit" "$work/nbdkit.log"

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run_row ROW SERVER FIO-ARGS...: one fio run against one server, JSON to
# $work/ROW.SERVER.json and the server's CPU use to $work/ROW.SERVER.cpu.
run_row() {
  local row=$1 server=$2 uri pid t0 c0 t1 c1 perf_pid=
  shift 2
  if [[ $server == usbd ]]; then uri=$uri_usbd pid=$usbd_pid; else uri=$uri_nbdkit pid=$nbdkit_pid; fi
  kill -0 "$pid" 2>/dev/null || { echo "run.sh: $server died:" >&2; cat "$work/$server.log" >&2; exit 1; }
  if [[ $perf == 1 && $server == usbd ]]; then
    perf record -q -g -p "$pid" -o "$work/perf-$row.data" 2>"$work/perf-$row.log" &
    perf_pid=$!
    sleep 0.5
  fi
  t0=$(date +%s.%N) c0=$(cpu_ticks "$pid")
  if ! fio --name="$row" --ioengine=nbd --uri="$uri" --size="$size" \
        --output-format=json --output="$work/$row.$server.json" "$@" \
        >"$work/$row.$server.out" 2>&1; then
    echo "run.sh: fio failed for $row on $server:" >&2
    cat "$work/$row.$server.out" >&2
    exit 1
  fi
  t1=$(date +%s.%N) c1=$(cpu_ticks "$pid")
  if [[ -n $perf_pid ]]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  echo "$t0 $c0 $t1 $c1 $(getconf CLK_TCK)" >"$work/$row.$server.cpu"
}

# Each row runs on usbd and then on nbdkit before the next row starts, so
# both servers see the same machine load; both start as empty volumes.
timed=(--time_based --runtime="$runtime")
rows=(prefill seqwrite seqread randread randwrite)
declare -A args=(
  # One pass over the whole fresh volume: first writes (allocation), and the
  # data every later read row reads.
  [prefill]="--rw=write --bs=1M --iodepth=8"
  [seqwrite]="--rw=write --bs=1M --iodepth=8 ${timed[*]}"
  [seqread]="--rw=read --bs=1M --iodepth=8 ${timed[*]}"
  [randread]="--rw=randread --bs=4k --iodepth=32 --numjobs=4 --group_reporting --norandommap --randrepeat=0 ${timed[*]}"
  [randwrite]="--rw=randwrite --bs=4k --iodepth=32 --numjobs=4 --group_reporting --norandommap --randrepeat=0 ${timed[*]}"
)

echo "usbd: $usbd ${usbd_args[*]}"
echo "nbdkit: $(nbdkit --version) memory $size; fio: $(fio --version)"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), ${runtime} s per timed row"
progress() {  # on a terminal, one line rewritten; else a line per run
  if [[ -t 2 ]]; then printf '  %-10s %-6s ...\r' "$1" "$2" >&2
  else printf '  running %s on %s\n' "$1" "$2" >&2; fi
}
for row in "${rows[@]}"; do
  for server in usbd nbdkit; do
    progress "$row" "$server"
    # shellcheck disable=SC2086  # the args are words on purpose
    run_row "$row" "$server" ${args[$row]}
  done
done
[[ -t 2 ]] && printf '%40s\r' '' >&2

python3 - "$work" "${rows[@]}" <<'EOF' | tee "$work/table.txt"
import json, sys

work, rows = sys.argv[1], sys.argv[2:]
labels = {
    "prefill":   ("fresh write 1M qd8, 4 GiB", "MiB/s", "write"),
    "seqwrite":  ("seq write 1M qd8", "MiB/s", "write"),
    "seqread":   ("seq read 1M qd8", "MiB/s", "read"),
    "randread":  ("rand read 4k qd32 x4", "IOPS", "read"),
    "randwrite": ("rand write 4k qd32 x4", "IOPS", "write"),
}

def load(row, server):
    text = open(f"{work}/{row}.{server}.json").read()
    job = json.loads(text[text.index("{"):])["jobs"][0]
    if job["error"]:
        sys.exit(f"fio reported error {job['error']} for {row} on {server}")
    _, unit, kind = labels[row]
    io = job[kind]
    figure = io["bw_bytes"] / 2**20 if unit == "MiB/s" else io["iops"]
    t0, c0, t1, c1, hz = map(float, open(f"{work}/{row}.{server}.cpu").read().split())
    cpu = 100 * (c1 - c0) / hz / (t1 - t0)  # % of one core, server only
    return figure, cpu

head = f"{'row':<26} {'unit':>5} {'usbd':>10} {'nbdkit':>10} {'usbd/nbdkit':>11}   {'cpu% usbd':>9} {'nbdkit':>6}"
print(head)
print("-" * len(head))
for row in rows:
    label, unit, _ = labels[row]
    u, ucpu = load(row, "usbd")
    k, kcpu = load(row, "nbdkit")
    print(f"{label:<26} {unit:>5} {u:>10.0f} {k:>10.0f} {u / k:>11.2f}   {ucpu:>9.0f} {kcpu:>6.0f}")
EOF
