#!/usr/bin/env bash
# Benchmark usbd against the peers a user would pick instead, on the same
# backend, in one run; prints one table and appends it to bench/RESULTS.md.
# See bench/README.md ("bench/peers.sh").
#
#   bench/peers.sh [--usbd=PATH] [--size=SIZE] [--runtime=S] [--rounds=N]
#                  [--dir=DIR] [--usbd-cache=N] [--usbd-args=ARGS] [--quick]
#                  [--install] [--no-record] [--keep]
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "$script_dir/.." && pwd)
usbd=${USBD:-$top_srcdir/usbd}
size=512M          # bytes written by the sequential rows, region of the random rows
volsize=1G         # volume size of every peer
runtime=12         # seconds per random row and peer, split into --rounds slices
rounds=2
base_dir=
install=0
record=1
keep=0
usbd_cache=1000    # usbd-http's --blockCacheSize: s3backer's default cache
usbd_args=()

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

  --usbd=PATH   usbd binary (default: $USBD, else ../usbd beside this script)
  --size=SIZE   data written by the sequential write (then read back cold),
                and the region of the random rows (default 512M; volume 1G)
  --runtime=S   seconds of each random row per peer (default 12)
  --rounds=N    split each random row into N slices, alternating the peers;
                the table shows the best slice (default 2)
  --dir=DIR     where the volumes, files and nginx's tree live (default: a
                fresh directory in /dev/shm if it exists, else in $TMPDIR)
  --usbd-cache=N  usbd-http's --blockCacheSize (default 1000 blocks, as
                s3backer's default --blockCacheSize; 0: no cache)
  --usbd-args=ARGS  extra options for both usbd peers
  --quick       --size=128M --runtime=3 --rounds=1: checks that it works
  --install     apt-get install the missing peers (nbdkit, qemu-utils,
                s3backer, nginx) first
  --no-record   do not append to bench/RESULTS.md
  --keep        keep the work directory (fio JSON, logs)
EOF
}

for arg in "$@"; do
  case $arg in
    --usbd=*) usbd=${arg#*=} ;;
    --size=*) size=${arg#*=} ;;
    --runtime=*) runtime=${arg#*=} ;;
    --rounds=*) rounds=${arg#*=} ;;
    --dir=*) base_dir=${arg#*=} ;;
    --usbd-cache=*) usbd_cache=${arg#*=} ;;
    --usbd-args=*) read -r -a usbd_args <<<"${arg#*=}" ;;
    --quick) size=128M runtime=3 rounds=1 ;;
    --install) install=1 ;;
    --no-record) record=0 ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "peers.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

[[ $runtime =~ ^[0-9]+$ && $rounds =~ ^[0-9]+$ && $rounds -gt 0 ]] ||
  { echo "peers.sh: --runtime and --rounds want positive whole numbers" >&2; exit 2; }
slice=$((runtime / rounds))
((slice > 0)) || { echo "peers.sh: --runtime must be at least --rounds seconds" >&2; exit 2; }
size_bytes=$(numfmt --from=iec "$size") ||
  { echo "peers.sh: bad --size $size" >&2; exit 2; }
((size_bytes > 0 && size_bytes <= $(numfmt --from=iec "$volsize"))) ||
  { echo "peers.sh: --size must be in (0, $volsize]" >&2; exit 2; }
[[ -x $usbd ]] || { echo "peers.sh: no usbd binary at $usbd (build it: make usbd)" >&2; exit 1; }

if [[ $install == 1 ]]; then
  want=()
  command -v nbdkit >/dev/null || want+=(nbdkit)
  command -v qemu-nbd >/dev/null || want+=(qemu-utils)
  command -v s3backer >/dev/null || want+=(s3backer)
  [[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null || want+=(nginx)
  if ((${#want[@]})); then
    echo "peers.sh: installing ${want[*]}" >&2
    apt-get install -y -o DPkg::Lock::Timeout=600 "${want[@]}" >&2 ||
      echo "peers.sh: warning: apt-get install ${want[*]} failed; those peers are skipped" >&2
  fi
fi
for tool in fio nbdinfo python3 numfmt; do
  command -v "$tool" >/dev/null ||
    { echo "peers.sh: $tool not found (apt-get install fio libnbd-bin python3 coreutils)" >&2; exit 1; }
done

if [[ -z $base_dir ]]; then
  if [[ -d /dev/shm && -w /dev/shm ]]; then base_dir=/dev/shm; else base_dir=${TMPDIR:-/tmp}; fi
fi
work=$(mktemp -d "$base_dir/usbd-peers.XXXXXX")

# --- servers.sh wants TMP, on_exit and fail (normally from lib.sh) ---------
TMP=$work
TEST_NAME=peers
declare -a CLEANUP_CMDS=()
on_exit() { CLEANUP_CMDS+=("$*"); }
fail() { echo "peers.sh: $*" >&2; exit 1; }
# shellcheck source=../tests/integration/servers.sh
source "$top_srcdir/tests/integration/servers.sh"

declare -A PID=() URI=() MNT=() LOG=()
cleanup() {
  local status=$? name i
  for name in "${!MNT[@]}"; do
    mountpoint -q "${MNT[$name]}" 2>/dev/null && { fusermount -u "${MNT[$name]}" 2>/dev/null || umount -l "${MNT[$name]}" 2>/dev/null || true; }
  done
  for name in "${!PID[@]}"; do kill "${PID[$name]}" 2>/dev/null || true; done
  for name in "${!PID[@]}"; do wait "${PID[$name]}" 2>/dev/null || true; done
  for ((i = ${#CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do
    eval "${CLEANUP_CMDS[$i]}" >/dev/null 2>&1 || true
  done
  if [[ $keep == 1 || $status -ne 0 ]]; then
    echo "peers.sh: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cp "$usbd" "$work/usbd"
# usbd-http's cache, as s3backer's (an older usbd has no cache).
http_cache=()
if "$work/usbd" --help 2>&1 | grep -q -- --blockCacheSize; then
  http_cache=(--blockCacheSize="$usbd_cache")
else
  usbd_cache="none (this usbd has no --blockCacheSize)"
fi
touch "$work/results.tsv" "$work/skips.tsv"

skip() {  # GROUP PEER REASON
  echo "peers.sh: SKIP $2: $3" >&2
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$work/skips.tsv"
}

# --- which peers can run ------------------------------------------------------
local_peers=(usbd-test)
http_peers=()
if command -v nbdkit >/dev/null && nbdkit file --version >/dev/null 2>&1; then
  local_peers+=(nbdkit-file)
else
  skip local nbdkit-file "nbdkit or its file plugin not installed (apt-get install nbdkit)"
fi
if command -v qemu-nbd >/dev/null; then
  local_peers+=(qemu-nbd)
else
  skip local qemu-nbd "qemu-nbd not installed (apt-get install qemu-utils)"
fi
NGINX=$(find_tool nginx)
if [[ -n $NGINX ]]; then
  start_nginx_dav
  http_peers+=(usbd-http)
  if ! command -v s3backer >/dev/null; then
    skip http s3backer "s3backer not installed (apt-get install s3backer)"
  elif [[ ! -e /dev/fuse ]] || ! command -v fusermount >/dev/null; then
    skip http s3backer "no FUSE here (/dev/fuse, fusermount)"
  else
    http_peers+=(s3backer)
  fi
else
  skip http usbd-http "nginx not installed (apt-get install nginx): no HTTP backend"
  skip http s3backer "nginx not installed (apt-get install nginx): no HTTP backend"
fi

truncate -s "$volsize" "$work/nbdkit.img" "$work/qemu.img"
mkdir -p "$work/usbd-test" "$work/s3backer.mnt"

# --- start / stop -----------------------------------------------------------
wait_nbd() {  # NAME
  local i name=$1
  for ((i = 0; i < 300; i++)); do
    kill -0 "${PID[$name]}" 2>/dev/null ||
      { echo "peers.sh: $name exited before serving:" >&2; tail -n 20 "${LOG[$name]}" >&2; exit 1; }
    nbdinfo --size "${URI[$name]}" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "peers.sh: $name not ready after 30 s:" >&2; tail -n 20 "${LOG[$name]}" >&2; exit 1
}

start_peer() {  # NAME
  local name=$1 sock=$work/$1.sock
  LOG[$name]=$work/$name.log
  rm -f "$sock"
  URI[$name]="nbd+unix:///?socket=$sock"
  case $name in
    usbd-test)
      "$work/usbd" -f --quiet --test --size="$volsize" "${usbd_args[@]}" --listen="unix:$sock" \
        "$work/usbd-test" 2>>"${LOG[$name]}" & ;;
    usbd-http)
      "$work/usbd" -f --quiet --httpStore --baseURL="$NGINX_URL" --size="$volsize" \
        "${http_cache[@]}" "${usbd_args[@]}" --listen="unix:$sock" usbdvol 2>>"${LOG[$name]}" & ;;
    nbdkit-file)
      nbdkit -U "$sock" -f file "$work/nbdkit.img" 2>>"${LOG[$name]}" & ;;
    qemu-nbd)
      # -e: several clients at once (fio's job, nbdinfo's probe); -t: persistent.
      qemu-nbd -k "$sock" -f raw -t -e 8 --cache=writeback --aio=threads \
        "$work/qemu.img" 2>>"${LOG[$name]}" & ;;
    s3backer)
      # Path style through --region's vhost URLs: BUCKET.localhost is
      # loopback. nginx's ETags are no MD5 sums: without the md5 cache off,
      # s3backer takes every read for stale. Otherwise its defaults
      # (in-memory block cache of 1000 blocks, 20 write-back threads).
      MNT[$name]=$work/s3backer.mnt
      s3backer -f --region=us-east-1 --baseURL="http://localhost:$NGINX_PORT/" \
        --prefix=s3backer/ --blockSize=256k --size="$volsize" \
        --md5CacheSize=0 --md5CacheTime=0 --minWriteDelay=0 \
        s3bucket "${MNT[$name]}" >>"${LOG[$name]}" 2>&1 & ;;
  esac
  PID[$name]=$!
  if [[ $name == s3backer ]]; then
    local i
    for ((i = 0; i < 300; i++)); do
      kill -0 "${PID[$name]}" 2>/dev/null ||
        { echo "peers.sh: s3backer exited before mounting:" >&2; tail -n 20 "${LOG[$name]}" >&2; exit 1; }
      [[ -f ${MNT[$name]}/file ]] && return 0
      sleep 0.1
    done
    echo "peers.sh: s3backer did not mount within 30 s" >&2; exit 1
  fi
  wait_nbd "$name"
}

stop_peer() {  # NAME: until the process is gone (s3backer: unmounted, all uploaded)
  local name=$1
  if [[ $name == s3backer ]]; then
    fusermount -u "${MNT[$name]}"
  else
    kill "${PID[$name]}" 2>/dev/null || true
  fi
  wait "${PID[$name]}" 2>/dev/null || true
  unset "PID[$name]"
}

# --- fio ----------------------------------------------------------------------
fio_target() {  # NAME: fio's arguments to reach that peer
  if [[ $1 == s3backer ]]; then
    echo "--ioengine=libaio --direct=1 --filename=${MNT[$1]}/file"
  else
    echo "--ioengine=nbd --uri=${URI[$1]}"
  fi
}

now() { date +%s.%N; }

# run_fio ROW NAME TAG ARGS...: one fio run, JSON in $work/ROW.NAME.TAG.json
run_fio() {
  local row=$1 name=$2 tag=$3 out
  shift 3
  out=$work/$row.$name.$tag
  echo "  $row: $name ($tag)" >&2
  # shellcheck disable=SC2046  # fio_target's words on purpose
  if ! fio --name="$row" $(fio_target "$name") --output-format=json \
        --output="$out.json" "$@" >"$out.out" 2>&1; then
    echo "peers.sh: fio failed for $row on $name:" >&2
    cat "$out.out" >&2
    tail -n 20 "${LOG[$name]}" >&2
    exit 1
  fi
}

record() {  # GROUP ROW PEER UNIT VALUE
  printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$work/results.tsv"
}

fio_figure() {  # JSON KIND(read|write) UNIT
  python3 - "$@" <<'EOF'
import json, sys
path, kind, unit = sys.argv[1:]
text = open(path).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
if job["error"]:
    sys.exit(f"fio error {job['error']} in {path}")
io = job[kind]
print(io["bw_bytes"] / 2**20 if unit == "MiB/s" else io["iops"])
EOF
}

# One group = the peers on one backend. Each peer in turn: fresh start,
# sequential write of --size then flush, stop (for s3backer: unmount, which
# returns once every dirty block is uploaded); the write figure is --size over
# that whole time. Then a fresh start and one sequential read pass (cold: no
# process holds a cache). Then the random rows, peers alternating slice by
# slice, all peers up at once.
seq=(--bs=1M --iodepth=8 --size="$size_bytes")
rand=(--bs=4k --iodepth=32 --size="$size_bytes" --norandommap --randrepeat=0
      --time_based --runtime="$slice")
run_group() {  # GROUP PEERS...
  local group=$1 name t0 t1 r order
  shift
  local peers=("$@")
  ((${#peers[@]})) || return 0
  for name in "${peers[@]}"; do
    start_peer "$name"
    t0=$(now)
    run_fio seqwrite "$name" 1 --rw=write "${seq[@]}" --end_fsync=1
    stop_peer "$name"
    t1=$(now)
    record "$group" seqwrite "$name" MiB/s \
      "$(python3 -c "print($size_bytes / 2**20 / ($t1 - $t0))")"
  done
  for name in "${peers[@]}"; do
    start_peer "$name"
    t0=$(now)
    run_fio coldread "$name" 1 --rw=read "${seq[@]}"
    t1=$(now)
    record "$group" coldread "$name" MiB/s \
      "$(python3 -c "print($size_bytes / 2**20 / ($t1 - $t0))")"
  done
  local row kind best fig
  for row in randread randwrite; do
    kind=${row#rand}
    for ((r = 1; r <= rounds; r++)); do
      order=("${peers[@]}")
      if ((r % 2 == 0)); then  # reverse the order every other round
        order=()
        for ((i = ${#peers[@]} - 1; i >= 0; i--)); do order+=("${peers[$i]}"); done
      fi
      for name in "${order[@]}"; do
        run_fio "$row" "$name" "$r" --rw="$row" "${rand[@]}"
      done
    done
    for name in "${peers[@]}"; do
      best=0
      for ((r = 1; r <= rounds; r++)); do
        fig=$(fio_figure "$work/$row.$name.$r.json" "$kind" IOPS)
        best=$(python3 -c "print(max($best, $fig))")
      done
      record "$group" "$row" "$name" IOPS "$best"
    done
  done
  for name in "${peers[@]}"; do stop_peer "$name"; done
}

version() { "$@" 2>&1 | head -n 1 || true; }
{
  echo "usbd: $(version "$work/usbd" --version)"
  echo "nbdkit: $(command -v nbdkit >/dev/null && version nbdkit --version || echo absent)"
  echo "qemu-nbd: $(command -v qemu-nbd >/dev/null && version qemu-nbd --version || echo absent)"
  echo "s3backer: $(command -v s3backer >/dev/null && version s3backer --version || echo absent)"
  echo "nginx: $([[ -n $NGINX ]] && version "$NGINX" -v || echo absent)"
  echo "fio: $(version fio --version)"
} >"$work/versions.txt"
cat "$work/versions.txt"
read -r load1 _ </proc/loadavg
if awk "BEGIN { exit !($load1 > 0.5) }"; then
  echo "peers.sh: warning: load average $load1 before starting: other work on this machine will skew the figures" >&2
fi
start_date=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
fstype=$(stat -f -c %T "$work")
echo "$start_date; size $size, volume $volsize, 256 KiB blocks; random rows best of $rounds x $slice s; data on $fstype ($base_dir); usbd-http cache $usbd_cache blocks; usbd args: ${usbd_args[*]:-none}"

run_group local "${local_peers[@]}"
run_group http "${http_peers[@]}"

python3 - "$work" <<'EOF' | tee "$work/table.txt"
import collections, sys

work = sys.argv[1]
fig = collections.OrderedDict()
for line in open(f"{work}/results.tsv"):
    group, row, peer, unit, value = line.rstrip("\n").split("\t")
    fig[(group, row, peer)] = (unit, float(value))
skips = [l.rstrip("\n").split("\t") for l in open(f"{work}/skips.tsv")]

rows = [("seqwrite", "seq write 1M qd8 + flush"), ("coldread", "cold seq read 1M qd8"),
        ("randread", "rand read 4k qd32"), ("randwrite", "rand write 4k qd32")]
groups = [("local", "usbd-test", "local dir/file", ["nbdkit-file", "qemu-nbd"]),
          ("http", "usbd-http", "nginx dav", ["s3backer"])]
head = (f"{'workload':<26} {'backend':<15} {'peer':<12} {'unit':>5} "
        f"{'usbd':>9} {'peer':>9} {'usbd/peer':>9}")
print(head)
print("-" * len(head))
for group, us, backend, peers in groups:
    for row, label in rows:
        for peer in peers:
            if any(s[0] == group and s[1] == peer for s in skips):
                continue
            u, p = fig.get((group, row, us)), fig.get((group, row, peer))
            if not u or not p:
                continue
            ratio = u[1] / p[1] if p[1] else float("inf")
            print(f"{label:<26} {backend:<15} {peer:<12} {u[0]:>5} "
                  f"{u[1]:>9.0f} {p[1]:>9.0f} {ratio:>9.2f}")
for group, peer, reason in skips:
    print(f"{'SKIP':<26} {group:<15} {peer:<12} {reason}")
print("usbd/peer above 1: usbd faster. seq write = size / (write + flush + stop);"
      " random rows: best slice")
EOF

if [[ $record == 1 ]]; then
  [[ -s $script_dir/RESULTS.md ]] ||
    printf '# bench/peers.sh results\n\nOne section per run of `bench/peers.sh`.\n' >"$script_dir/RESULTS.md"
  {
    echo
    echo "## bench/peers.sh, $start_date"
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 2^20 }' /proc/meminfo) RAM, kernel $(uname -r), load average at start $load_start"
    echo "- settings: size $size written and read, volume $volsize, 256 KiB blocks, random rows best of $rounds x $slice s, data on $fstype, no compression or encryption; usbd-http --blockCacheSize $usbd_cache, s3backer default cache (1000 blocks); usbd args: ${usbd_args[*]:-none}"
    sed 's/^/- /' "$work/versions.txt"
    echo
    sed 's/^/    /' "$work/table.txt"
  } >>"$script_dir/RESULTS.md"
  echo "appended to $script_dir/RESULTS.md"
fi
