#!/usr/bin/env bash
# Benchmark usbd against nbdkit's memory plugin, in one run, with fio's nbd
# engine over unix sockets. See bench/README.md.
#
#   bench/run.sh [--usbd=PATH] [--runtime=S] [--rounds=N] [--quick]
#                [--usbd-args='...'] [--perf] [--keep]
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usbd=${USBD:-$script_dir/../usbd}
runtime=12
rounds=3
size=4G
usbd_args=()
perf=0
keep=0

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

  --usbd=PATH       usbd binary (default: $USBD, else ../usbd beside this script)
  --runtime=S       seconds of I/O per timed row and server (default 12)
  --rounds=N        split each timed row into N slices of S/N seconds,
                    alternating the servers; report the best slice (default 3)
  --quick           --runtime=3 --rounds=1: a smoke test, not a result
  --usbd-args=ARGS  extra usbd options, e.g. --usbd-args=--nbdThreads=16
  --perf            also perf-record usbd (DWARF call graphs) during each of
                    its runs: perf-ROW-rN.data in the results directory
                    (implies --keep; see `perf report -i FILE`)
  --keep            keep the results directory (fio JSON, server logs)
EOF
}

for arg in "$@"; do
  case $arg in
    --usbd=*) usbd=${arg#*=} ;;
    --runtime=*) runtime=${arg#*=} ;;
    --rounds=*) rounds=${arg#*=} ;;
    --quick) runtime=3 rounds=1 ;;
    --usbd-args=*) read -r -a usbd_args <<<"${arg#*=}" ;;
    --perf) perf=1 keep=1 ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

[[ $runtime =~ ^[0-9]+$ && $rounds =~ ^[0-9]+$ && $rounds -gt 0 ]] ||
  { echo "run.sh: --runtime and --rounds want positive whole numbers" >&2; exit 2; }
slice=$((runtime / rounds))
((slice > 0)) || { echo "run.sh: --runtime must be at least --rounds seconds" >&2; exit 2; }
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

# Run a copy: others may relink the tree's usbd while this runs, and perf
# wants the exact binary to resolve symbols afterwards.
cp "$usbd" "$work/usbd"
"$work/usbd" -f --quiet --memory --size="$size" "${usbd_args[@]}" \
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

progress() {  # on a terminal, one line rewritten; else a line per run
  if [[ -t 2 ]]; then printf '  %-10s round %s %-6s ...\r' "$@" >&2
  else printf '  running %s round %s on %s\n' "$@" >&2; fi
}

# run_one ROW ROUND SERVER FIO-ARGS...: one fio run against one server; fio's
# JSON goes to $work/ROW.SERVER.ROUND.json and the server's CPU use (start
# time, ticks, end time, ticks, ticks per second) to ROW.SERVER.ROUND.cpu.
run_one() {
  local row=$1 round=$2 server=$3 uri pid t0 c0 t1 c1 perf_pid=
  local base=$work/$row.$server.$round
  shift 3
  progress "$row" "$round" "$server"
  if [[ $server == usbd ]]; then uri=$uri_usbd pid=$usbd_pid; else uri=$uri_nbdkit pid=$nbdkit_pid; fi
  kill -0 "$pid" 2>/dev/null || { echo "run.sh: $server died:" >&2; cat "$work/$server.log" >&2; exit 1; }
  if [[ $perf == 1 && $server == usbd ]]; then
    perf record -q -F 499 --call-graph=dwarf,8192 -p "$pid" \
      -o "$work/perf-$row-r$round.data" 2>"$work/perf-$row-r$round.log" &
    perf_pid=$!
    sleep 0.5
  fi
  t0=$(date +%s.%N) c0=$(cpu_ticks "$pid")
  if ! fio --name="$row" --ioengine=nbd --uri="$uri" --size="$size" \
        --output-format=json --output="$base.json" "$@" >"$base.out" 2>&1; then
    echo "run.sh: fio failed for $row on $server:" >&2
    cat "$base.out" >&2
    exit 1
  fi
  t1=$(date +%s.%N) c1=$(cpu_ticks "$pid")
  if [[ -n $perf_pid ]]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  echo "$t0 $c0 $t1 $c1 $(getconf CLK_TCK)" >"$base.cpu"
}

timed=(--time_based --runtime="$slice")
rand=(--bs=4k --iodepth=32 --numjobs=4 --group_reporting --norandommap --randrepeat=0)
rows=(prefill seqwrite seqread randread randwrite)
declare -A args=(
  # One pass over the whole fresh volume: first writes (allocation), and the
  # data every later read row reads. Not repeatable, so always one round.
  [prefill]="--rw=write --bs=1M --iodepth=8"
  [seqwrite]="--rw=write --bs=1M --iodepth=8 ${timed[*]}"
  [seqread]="--rw=read --bs=1M --iodepth=8 ${timed[*]}"
  [randread]="--rw=randread ${rand[*]} ${timed[*]}"
  [randwrite]="--rw=randwrite ${rand[*]} ${timed[*]}"
)

echo "usbd: $usbd ${usbd_args[*]}"
echo "nbdkit: $(nbdkit --version) memory $size; fio: $(fio --version)"
read -r load1 _ </proc/loadavg
if awk "BEGIN { exit !($load1 > 0.5) }"; then
  echo "run.sh: warning: load average $load1 before starting: other work on this machine will skew the figures" >&2
fi
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
     "timed rows: best of $rounds x $slice s per server"

# Both servers start as empty volumes and get the same sequence of runs.
# Within a row the servers alternate slice by slice (and which goes first
# alternates too), so both see the same machine load on average.
for row in "${rows[@]}"; do
  n=$rounds
  [[ $row == prefill ]] && n=1
  for ((r = 1; r <= n; r++)); do
    order=(usbd nbdkit)
    ((r % 2 == 0)) && order=(nbdkit usbd)
    for server in "${order[@]}"; do
      # shellcheck disable=SC2086  # the args are words on purpose
      run_one "$row" "$r" "$server" ${args[$row]}
    done
  done
done
if [[ -t 2 ]]; then printf '%50s\r' '' >&2; fi

python3 - "$work" "${rows[@]}" <<'EOF' | tee "$work/table.txt"
import glob, json, sys

work, rows = sys.argv[1], sys.argv[2:]
labels = {
    "prefill":   ("fresh write 1M qd8, 4 GiB", "MiB/s", "write"),
    "seqwrite":  ("seq write 1M qd8", "MiB/s", "write"),
    "seqread":   ("seq read 1M qd8", "MiB/s", "read"),
    "randread":  ("rand read 4k qd32 x4", "IOPS", "read"),
    "randwrite": ("rand write 4k qd32 x4", "IOPS", "write"),
}

def load(row, server):
    """Best figure over the rounds, spread (max-min)/max, server CPU %."""
    _, unit, kind = labels[row]
    figures, ticks, seconds = [], 0.0, 0.0
    for path in sorted(glob.glob(f"{work}/{row}.{server}.*.json")):
        text = open(path).read()
        job = json.loads(text[text.index("{"):])["jobs"][0]
        if job["error"]:
            sys.exit(f"fio reported error {job['error']} for {row} on {server}")
        io = job[kind]
        figures.append(io["bw_bytes"] / 2**20 if unit == "MiB/s" else io["iops"])
        t0, c0, t1, c1, hz = map(float, open(path[:-4] + "cpu").read().split())
        ticks += (c1 - c0) / hz
        seconds += t1 - t0
    best = max(figures)
    return best, 100 * (best - min(figures)) / best, 100 * ticks / seconds

head = (f"{'row':<26} {'unit':>5} {'usbd':>9} {'nbdkit':>9} {'usbd/nbdkit':>11}"
        f"   {'spread u/k %':>12}   {'cpu% u/k':>8}")
print(head)
print("-" * len(head))
for row in rows:
    label, unit, _ = labels[row]
    u, uspread, ucpu = load(row, "usbd")
    k, kspread, kcpu = load(row, "nbdkit")
    print(f"{label:<26} {unit:>5} {u:>9.0f} {k:>9.0f} {u / k:>11.2f}"
          f"   {uspread:>5.0f} /{kspread:>4.0f}   {ucpu:>4.0f} /{kcpu:>3.0f}")
print("best of the rounds; spread = (best - worst) / best; cpu% = server CPU,"
      " % of one core, over all rounds")
EOF
