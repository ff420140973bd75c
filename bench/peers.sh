#!/usr/bin/env bash
# Benchmark usbd against the peers a user would pick instead, on the same
# backend, in one run; prints one table and appends it to bench/RESULTS.md.
# See bench/README.md ("bench/peers.sh").
#
#   bench/peers.sh [--usbd=PATH] [--size=SIZE] [--s3-size=SIZE] [--runtime=S]
#                  [--rounds=N] [--groups=LIST] [--dir=DIR] [--tree=DIR]
#                  [--usbd-args=ARGS] [--latency=MS] [--bandwidth=MBIT]
#                  [--quick] [--install] [--no-record] [--keep]
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "$script_dir/.." && pwd)
usbd=${USBD:-$top_srcdir/usbd}
size=1G            # bytes written by the sequential rows, region of the random rows
s3_size=256M       # the same for the moto_server group (moto is slow)
runtime=12         # seconds per random row and peer, split into --rounds slices
rounds=2
groups=local,http,full,s3
tree=/usr/include  # the source tree of the untar row
base_dir=
install=0
record=1
keep=0
usbd_args=()
latency=0
bandwidth=
bench_cache=${XDG_CACHE_HOME:-$HOME/.cache}/usbd-bench  # s3rver, from npm
cache_blocks=1000   # the http and s3 groups: s3backer's default --blockCacheSize
full_cache=8192     # the full group: 2 GiB of cache file, more than --size

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

  --usbd=PATH   usbd binary (default: $USBD, else ../usbd beside this script)
  --size=SIZE   data written by the sequential write (then read back cold and
                warm), and the region of the random rows (default 1G)
  --s3-size=SIZE  the same for the moto_server group (default 256M)
  --runtime=S   seconds of each random row per peer (default 12)
  --rounds=N    split each random row into N slices, alternating the peers;
                the table shows the best slice (default 2)
  --groups=LIST  which groups to run, comma-separated (default all):
                local  usbd --test vs nbdkit file and qemu-nbd, on tmpfs
                http   usbd vs s3backer on nginx dav, 1000-block memory caches,
                       and raw parallel PUT/GET with curl
                full   usbd vs s3backer on s3rver (S3, from npm) with a
                       cache file, compression and encryption on both, and
                       raw parallel PUT/GET with curl; and the same two
                       writing (only) to nginx dav
                s3     usbd vs s3backer and nbdkit's S3 plugin on moto_server,
                       and raw parallel PUT/GET with curl
  --tree=DIR    the source tree the untar row unpacks (default /usr/include)
  --dir=DIR     where the volumes, files and servers' trees live (default: a
                fresh directory in /dev/shm if it exists, else in $TMPDIR)
  --usbd-args=ARGS  extra options for every usbd peer
  --latency=MS  put tests/tools/latency_proxy between every peer and nginx
                (the http and fullw rows): MS of round trip on each request
                and each connection, as an S3 endpoint at a distance
                (default 0: no proxy)
  --bandwidth=MBIT  with the proxy, cap each connection's direction at MBIT
  --quick       --size=128M --s3-size=64M --runtime=3 --rounds=1: checks
                that it works
  --install     apt-get install the missing peers (nbdkit, its python plugin
                and python3-boto3, qemu-utils, s3backer, nbdfuse, nginx, npm)
                and npm install s3rver (into ~/.cache/usbd-bench) first
  --no-record   do not append to bench/RESULTS.md
  --keep        keep the work directory (fio JSON, logs)
EOF
}

for arg in "$@"; do
  case $arg in
    --usbd=*) usbd=${arg#*=} ;;
    --size=*) size=${arg#*=} ;;
    --s3-size=*) s3_size=${arg#*=} ;;
    --runtime=*) runtime=${arg#*=} ;;
    --rounds=*) rounds=${arg#*=} ;;
    --groups=*) groups=${arg#*=} ;;
    --tree=*) tree=${arg#*=} ;;
    --dir=*) base_dir=${arg#*=} ;;
    --usbd-args=*) read -r -a usbd_args <<<"${arg#*=}" ;;
    --latency=*) latency=${arg#*=} ;;
    --bandwidth=*) bandwidth=${arg#*=} ;;
    --quick) size=128M s3_size=64M runtime=3 rounds=1 ;;
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
for s in "$size" "$s3_size"; do
  b=$(numfmt --from=iec "$s") || { echo "peers.sh: bad size $s" >&2; exit 2; }
  ((b >= 4 << 20 && b <= 4 << 30 && b % (256 << 10) == 0)) ||
    { echo "peers.sh: sizes must be whole 256 KiB blocks from 4M to 4G" >&2; exit 2; }
done
for g in ${groups//,/ }; do
  [[ $g =~ ^(local|http|full|s3)$ ]] || { echo "peers.sh: unknown group $g" >&2; exit 2; }
done
[[ -x $usbd ]] || { echo "peers.sh: no usbd binary at $usbd (build it: make usbd)" >&2; exit 1; }
[[ -d $tree ]] || { echo "peers.sh: --tree $tree is not a directory" >&2; exit 2; }
want_group() { [[ ,$groups, == *,$1,* ]]; }

if [[ $install == 1 ]]; then
  want=()
  command -v nbdkit >/dev/null || want+=(nbdkit)
  [[ -e /usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-S3-plugin ]] ||
    want+=(nbdkit-plugin-python)
  /usr/bin/python3 -c 'import boto3' 2>/dev/null || want+=(python3-boto3)
  command -v qemu-nbd >/dev/null || want+=(qemu-utils)
  command -v s3backer >/dev/null || want+=(s3backer)
  command -v nbdfuse >/dev/null || want+=(nbdfuse)
  [[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null || want+=(nginx)
  command -v npm >/dev/null || want+=(npm)
  if ((${#want[@]})); then
    echo "peers.sh: installing ${want[*]}" >&2
    apt-get install -y -o DPkg::Lock::Timeout=600 "${want[@]}" >&2 ||
      echo "peers.sh: warning: apt-get install ${want[*]} failed; those peers are skipped" >&2
  fi
  if ! command -v s3rver >/dev/null && [[ ! -x $bench_cache/node_modules/.bin/s3rver ]]; then
    echo "peers.sh: installing s3rver with npm into $bench_cache" >&2
    mkdir -p "$bench_cache"
    npm install --no-audit --no-fund --prefix "$bench_cache" s3rver@3.7.1 >&2 ||
      echo "peers.sh: warning: npm install s3rver failed; the full group is skipped" >&2
  fi
fi
for tool in fio nbdinfo python3 numfmt curl tar; do
  command -v "$tool" >/dev/null ||
    { echo "peers.sh: $tool not found (apt-get install fio libnbd-bin python3 coreutils curl tar)" >&2; exit 1; }
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

declare -A PID=() URI=() MNT=() LOG=() FILE=() GROUP_SIZE=()
declare -a FS_MOUNTS=() LOOPS=() FUSES=()
cleanup() {
  local status=$? name i
  for i in "${FS_MOUNTS[@]}"; do umount -l "$i" 2>/dev/null || true; done
  for i in "${LOOPS[@]}"; do losetup -d "$i" 2>/dev/null || true; done
  for i in "${FUSES[@]}"; do fusermount3 -uz "$i" 2>/dev/null || true; done
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
touch "$work/results.tsv" "$work/skips.tsv"
printf 'benchmark password, not a secret\n' >"$work/password"
chmod 600 "$work/password"

skip() {  # GROUP PEER REASON
  echo "peers.sh: SKIP $2: $3" >&2
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$work/skips.tsv"
}

# --- which peers can run ------------------------------------------------------
have_fuse() { [[ -e /dev/fuse ]] && command -v fusermount >/dev/null; }
have_s3backer() {  # GROUP PEER
  if ! command -v s3backer >/dev/null; then
    skip "$1" "$2" "s3backer not installed (apt-get install s3backer)"
  elif ! have_fuse; then
    skip "$1" "$2" "no FUSE here (/dev/fuse, fusermount)"
  else
    return 0
  fi
  return 1
}
declare -a local_peers=() http_peers=() full_peers=() s3_peers=()
if want_group local; then
  local_peers=(usbd-test)
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
fi
NGINX=$(find_tool nginx)
declare -a fullw_peers=()
if want_group http || want_group full; then
  if [[ -n $NGINX ]]; then
    start_nginx_dav
    if [[ $latency != 0 || -n $bandwidth ]]; then
      LATENCY_PROXY=$top_srcdir/tests/tools/latency_proxy
      [[ -x $LATENCY_PROXY ]] || make -C "$top_srcdir" tests/tools/latency_proxy >/dev/null
      start_latency_proxy "127.0.0.1:$NGINX_PORT" "$latency" $bandwidth
      NGINX_PORT=$LATENCY_PORT
      NGINX_URL=http://127.0.0.1:$NGINX_PORT/
    fi
    if want_group http; then
      http_peers=(usbd-http)
      have_s3backer http s3backer-http && http_peers+=(s3backer-http)
      http_peers+=(raw-http)
    fi
    # The full stack's write on the fast backend too. Write only: s3backer
    # cannot read these objects back from nginx (see the full group).
    if want_group full && have_s3backer fullw s3backer-fullw; then
      fullw_peers=(usbd-fullw s3backer-fullw)
    fi
  else
    skip http usbd-http "nginx not installed (apt-get install nginx): no HTTP backend"
  fi
fi
# The full group needs an S3 server: s3backer keeps its compression and
# encryption settings in x-amz-meta headers, which nginx dav drops. s3rver
# (npm) keeps them and is about three times faster than moto_server here.
S3RVER=$(command -v s3rver || true)
[[ -n $S3RVER || ! -x $bench_cache/node_modules/.bin/s3rver ]] ||
  S3RVER=$bench_cache/node_modules/.bin/s3rver
start_s3rver() {  # BUCKETS...: exports S3RVER_URL, S3RVER_PORT, S3RVER_ACCESS_FILE
  local args=() bucket i
  for bucket in "$@"; do args+=(--configure-bucket "$bucket"); done
  mkdir -p "$work/s3rver"
  S3RVER_PORT=$(free_port)
  # --service-endpoint: s3backer's vhost URLs (BUCKET.s3.localhost) name
  # the bucket; curl takes any *.localhost for loopback.
  "$S3RVER" -d "$work/s3rver" -a 127.0.0.1 -p "$S3RVER_PORT" --silent \
    --service-endpoint localhost "${args[@]}" >>"$work/s3rver.log" 2>&1 &
  local pid=$!
  on_exit "kill $pid"
  wait_for_port "$S3RVER_PORT" "$pid" s3rver || fail "s3rver did not start: $(tail -n 5 "$work/s3rver.log")"
  S3RVER_URL=http://127.0.0.1:$S3RVER_PORT
  S3RVER_ACCESS_FILE=$work/s3rver.passwd
  (umask 077 && echo S3RVER:S3RVER >"$S3RVER_ACCESS_FILE")  # its fixed key
}
if want_group full; then
  if [[ -n $S3RVER ]]; then
    start_s3rver usbd-full s3backer-full raw
    full_peers=(usbd-full)
    have_s3backer full s3backer-full && full_peers+=(s3backer-full)
    full_peers+=(raw-full)
  else
    skip full usbd-full "s3rver not installed (--install puts it in $bench_cache with npm): no S3 server for the full group"
  fi
fi
if want_group s3; then
  MOTO=$(find_tool moto_server)
  AWS=$([[ -n $MOTO ]] && echo "$(dirname "$MOTO")/aws")
  if [[ -n $MOTO && -x $AWS ]]; then
    start_moto
    s3_peers=(usbd-s3)
    if have_s3backer s3 s3backer-s3; then
      moto_create_bucket s3backer
      s3_peers+=(s3backer-s3)
    fi
    s3_plugin=$(nbdkit --dump-config 2>/dev/null | sed -n 's/^plugindir=//p')/nbdkit-S3-plugin
    if [[ ! -e $s3_plugin ]]; then
      skip s3 nbdkit-s3 "nbdkit's S3 plugin not installed (apt-get install nbdkit-plugin-python python3-boto3)"
    elif ! /usr/bin/python3 -c 'import boto3' 2>/dev/null; then
      skip s3 nbdkit-s3 "nbdkit's S3 plugin needs boto3 (apt-get install python3-boto3)"
    else
      moto_create_bucket nbdkit
      s3_peers+=(nbdkit-s3)
    fi
    moto_create_bucket usbd
    moto_create_bucket raw
    s3_peers+=(raw-s3)
  else
    skip s3 usbd-s3 "moto_server and aws not found (pip install 'moto[server]' awscli): no S3 backend"
  fi
fi

GROUP_SIZE=([local]=$size [http]=$size [full]=$size [fullw]=$size [s3]=$s3_size)
volume_of() {  # GROUP: every peer's volume size: twice the data, at least 1 GiB
  local mib=$(($(numfmt --from=iec "${GROUP_SIZE[$1]}") * 2 >> 20))
  echo "$((mib < 1024 ? 1024 : mib))M"
}
group_of() {
  case $1 in
    usbd-test|nbdkit-file|qemu-nbd) echo local ;;
    *-http) echo http ;;
    *-full) echo full ;;
    *-fullw) echo fullw ;;
    *-s3) echo s3 ;;
  esac
}

# --- start / stop -----------------------------------------------------------
wait_ready() {  # NAME: NBD handshake works, or s3backer's file is there
  local i name=$1
  for ((i = 0; i < 300; i++)); do
    kill -0 "${PID[$name]}" 2>/dev/null ||
      { echo "peers.sh: $name exited before serving:" >&2; tail -n 20 "${LOG[$name]}" >&2; exit 1; }
    if [[ -n ${MNT[$name]:-} ]]; then
      [[ -f ${MNT[$name]}/file ]] && return 0
    else
      nbdinfo --size "${URI[$name]}" >/dev/null 2>&1 && return 0
    fi
    sleep 0.1
  done
  echo "peers.sh: $name not ready after 30 s:" >&2; tail -n 20 "${LOG[$name]}" >&2; exit 1
}

# The equal settings of each group. http: no codec, in-memory caches of
# 1000 blocks (s3backer's default). full: a cache file of $full_cache blocks,
# compression and encryption with a password file on both (usbd: zstd level
# 1 and AES-256-GCM, its defaults; s3backer: zlib level 1, its fastest, and
# AES-128-CBC, its default). s3backer talks path-style through --region's
# vhost URLs (BUCKET.localhost is loopback); against nginx, whose ETags are
# no MD5 sums, its MD5 cache must be off or it takes every read for stale.
s3backer_args() {  # NAME
  local group
  group=$(group_of "$1")
  local common=(-f --blockSize=256k --size="$(volume_of "$group")" --region=us-east-1)
  case $group in
    http) echo "${common[*]} --baseURL=http://localhost:$NGINX_PORT/ --prefix=s3backer/ --md5CacheSize=0 --md5CacheTime=0 --minWriteDelay=0 s3bucket" ;;
    fullw) echo "${common[*]} --baseURL=http://localhost:$NGINX_PORT/ --prefix=s3backer-fullw/ --md5CacheSize=0 --md5CacheTime=0 --minWriteDelay=0 --blockCacheFile=$work/s3backer-fullw.cache --blockCacheSize=$full_cache --compress=1 --encrypt --passwordFile=$work/password s3bucket" ;;
    full) echo "${common[*]} --baseURL=http://s3.localhost:$S3RVER_PORT/ --accessFile=$S3RVER_ACCESS_FILE --blockCacheFile=$work/s3backer-full.cache --blockCacheSize=$full_cache --compress=1 --encrypt --passwordFile=$work/password s3backer-full" ;;
    s3) echo "${common[*]} --baseURL=http://localhost:$MOTO_PORT/ --accessFile=$MOTO_ACCESS_FILE s3backer" ;;
  esac
}

start_peer() {  # NAME
  local name=$1 sock=$work/$1.sock group
  group=$(group_of "$name")
  local vol
  vol=$(volume_of "$group")
  LOG[$name]=$work/$name.log
  rm -f "$sock"
  URI[$name]="nbd+unix:///?socket=$sock"
  local u=("$work/usbd" -f --quiet --size="$vol" "${usbd_args[@]}" --listen="unix:$sock")
  case $name in
    usbd-test)
      "${u[@]}" --test "$work/usbd-test" 2>>"${LOG[$name]}" & ;;
    usbd-http)
      "${u[@]}" --httpStore --baseURL="${NGINX_URL}usbd-http/" \
        --blockCacheSize="$cache_blocks" vol 2>>"${LOG[$name]}" & ;;
    usbd-full)
      "${u[@]}" --baseURL="$S3RVER_URL/" --accessFile="$S3RVER_ACCESS_FILE" \
        --blockCacheFile="$work/usbd-full.cache" --blockCacheSize="$full_cache" \
        --compress --encrypt --passwordFile="$work/password" usbd-full 2>>"${LOG[$name]}" & ;;
    usbd-fullw)
      "${u[@]}" --httpStore --baseURL="${NGINX_URL}usbd-fullw/" \
        --blockCacheFile="$work/usbd-fullw.cache" --blockCacheSize="$full_cache" \
        --compress --encrypt --passwordFile="$work/password" vol 2>>"${LOG[$name]}" & ;;
    usbd-s3)
      "${u[@]}" --baseURL="$MOTO_ENDPOINT/" --accessFile="$MOTO_ACCESS_FILE" \
        --blockCacheSize="$cache_blocks" usbd 2>>"${LOG[$name]}" & ;;
    nbdkit-file)
      nbdkit -U "$sock" -f file "$work/nbdkit.img" 2>>"${LOG[$name]}" & ;;
    qemu-nbd)
      # -e: several clients at once (fio's job, nbdinfo's probe); -t: persistent.
      qemu-nbd -k "$sock" -f raw -t -e 8 --cache=writeback --aio=threads \
        "$work/qemu.img" 2>>"${LOG[$name]}" & ;;
    nbdkit-s3)
      # nbdkit 1.32 wants a minimum block size of at most 64 KiB, so its
      # objects are 64 KiB, not 256; the blocksize filter takes smaller
      # requests (read-modify-write), as the plugin's manual advises.
      local id secret
      IFS=: read -r id secret <"$MOTO_ACCESS_FILE"
      AWS_ACCESS_KEY_ID=$id AWS_SECRET_ACCESS_KEY=$secret \
        nbdkit -U "$sock" -f --filter=blocksize S3 endpoint-url="$MOTO_ENDPOINT" size="$vol" \
        object-size=64k bucket=nbdkit key=vol 2>>"${LOG[$name]}" & ;;
    s3backer-*)
      MNT[$name]=$work/$name.mnt
      FILE[$name]=${MNT[$name]}/file
      mkdir -p "${MNT[$name]}"
      # shellcheck disable=SC2046  # s3backer_args's words on purpose
      s3backer $(s3backer_args "$name") "${MNT[$name]}" >>"${LOG[$name]}" 2>&1 & ;;
  esac
  PID[$name]=$!
  wait_ready "$name"
}

stop_peer() {  # NAME: until the process is gone (all uploaded)
  local name=$1
  [[ -n ${PID[$name]:-} ]] || return 0
  if [[ -n ${MNT[$name]:-} ]]; then
    fusermount -u "${MNT[$name]}"
  else
    kill "${PID[$name]}" 2>/dev/null || true
  fi
  wait "${PID[$name]}" 2>/dev/null || true
  unset "PID[$name]"
}

drop_cache() {  # NAME: the next start finds an empty cache
  case $1 in
    usbd-full) rm -f "$work/usbd-full.cache" "$work/usbd-full.cache.lmdb" ;;
    s3backer-full) rm -f "$work/s3backer-full.cache" ;;
    usbd-fullw) rm -f "$work/usbd-fullw.cache" "$work/usbd-fullw.cache.lmdb" ;;
    s3backer-fullw) rm -f "$work/s3backer-fullw.cache" ;;
  esac
}

# --- fio ----------------------------------------------------------------------
fio_target() {  # NAME: fio's arguments to reach that peer
  if [[ -n ${MNT[$1]:-} ]]; then
    echo "--ioengine=libaio --direct=1 --filename=${FILE[$1]}"
  else
    echo "--ioengine=nbd --uri=${URI[$1]}"
  fi
}

now() { date +%s.%N; }
rate() { python3 -c "print($1 / 2**20 / ($3 - $2))"; }  # BYTES T0 T1 -> MiB/s

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

# --- raw backend: parallel PUT then GET of whole blocks ------------------------
# The ceiling usbd's sequential rows are held against: as many 256 KiB
# objects as the group's size, PUT then GET by one curl in its parallel mode
# (one thread, keep-alive), 8 and then 16 transfers in flight, best of the
# two. S3 servers get SigV4 from curl (the key in curl's config file, not on
# its command line).
raw_backend() {  # GROUP
  local group=$1 bytes count p t0 t1 t2 put=0 get=0 base auth= i
  bytes=$(numfmt --from=iec "${GROUP_SIZE[$group]}")
  count=$((bytes / (256 << 10)))
  head -c $((256 << 10)) /dev/urandom >"$work/raw.obj"
  case $group in
    http) base=${NGINX_URL}raw ;;
    full) base=$S3RVER_URL/raw auth=$S3RVER_ACCESS_FILE ;;
    s3) base=$MOTO_ENDPOINT/raw auth=$MOTO_ACCESS_FILE ;;
  esac
  {
    if [[ -n $auth ]]; then
      printf 'user = "%s"\naws-sigv4 = "aws:amz:us-east-1:s3"\n' "$(head -n 1 "$auth")"
      printf 'header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\n'
    fi
    printf 'fail\nsilent\nshow-error\n'
    for ((i = 0; i < count; i++)); do
      printf 'url = "%s/%08x"\nupload-file = "%s"\noutput = "/dev/null"\n' \
        "$base" "$i" "$work/raw.obj"
    done
  } >"$work/raw-put.cfg"
  sed '/^upload-file/d' "$work/raw-put.cfg" >"$work/raw-get.cfg"
  for p in 8 16; do
    echo "  raw $group: $count objects, $p in flight" >&2
    t0=$(now)
    curl -Z --parallel-max "$p" -K "$work/raw-put.cfg" \
      >/dev/null 2>"$work/raw.err" || fail "raw PUT to $base failed: $(head -n 3 "$work/raw.err")"
    t1=$(now)
    curl -Z --parallel-max "$p" -K "$work/raw-get.cfg" \
      >/dev/null 2>"$work/raw.err" || fail "raw GET from $base failed: $(head -n 3 "$work/raw.err")"
    t2=$(now)
    put=$(python3 -c "print(max($put, $(rate "$bytes" "$t0" "$t1")))")
    get=$(python3 -c "print(max($get, $(rate "$bytes" "$t1" "$t2")))")
  done
  record "$group" seqwrite "raw-$group" MiB/s "$put"
  record "$group" coldread "raw-$group" MiB/s "$get"
}

# --- untar a source tree onto ext4 on the device, sync, stop ---------------------
# NBD peers: nbdfuse exposes the export as a file; s3backer: its own FUSE
# file. Both then go through a loop device and the kernel's ext4. The figure
# is the tree's size over untar + umount (the sync) + stopping the peer
# (until everything is in the store); mkfs is outside the timed part.
untar() {  # GROUP NAME
  local group=$1 name=$2 disk fuse loop mnt t0 t1 bytes
  start_peer "$name"
  if [[ -n ${MNT[$name]:-} ]]; then
    disk=${FILE[$name]}
  else
    fuse=$work/$name.fuse
    rm -rf "$fuse" && mkdir -p "$fuse"
    nbdfuse "$fuse" "${URI[$name]}" >>"${LOG[$name]}" 2>&1 &
    local fpid=$! i
    FUSES+=("$fuse")
    for ((i = 0; i < 100; i++)); do [[ -f $fuse/nbd ]] && break; sleep 0.1; done
    [[ -f $fuse/nbd ]] || fail "nbdfuse did not expose $name"
    disk=$fuse/nbd
  fi
  loop=$(losetup --find --show --direct-io=on "$disk") || fail "losetup on $name failed"
  LOOPS+=("$loop")
  mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$loop" >/dev/null ||
    fail "mkfs.ext4 on $name failed"
  mnt=$work/$name.ext4
  mkdir -p "$mnt"
  mount -o noinit_itable "$loop" "$mnt" || fail "mount of $name failed"
  FS_MOUNTS+=("$mnt")
  sync
  echo "  untar: $name" >&2
  t0=$(now)
  tar -xf "$work/tree.tar" -C "$mnt" || fail "untar onto $name failed"
  umount "$mnt" || fail "umount of $name failed"
  losetup -d "$loop"
  if [[ -z ${MNT[$name]:-} ]]; then
    fusermount3 -u "$fuse"
    wait "$fpid" 2>/dev/null || true
  fi
  stop_peer "$name"
  t1=$(now)
  bytes=$(stat -c %s "$work/tree.tar")
  record "$group" untar "$name" MiB/s "$(rate "$bytes" "$t0" "$t1")"
}

# One group = the peers on one backend. Each peer in turn: fresh start,
# sequential write then flush, stop (for s3backer: unmount, which returns
# once every dirty block is uploaded); the write figure is the size over that
# whole time. Then, each in turn, a fresh start with an empty cache and one
# sequential read pass (cold), then a second pass (warm: whatever the peer
# kept). Then the random rows, peers alternating slice by slice, all up at
# once. Then the untar row, each in turn.
run_group() {  # GROUP PEERS...
  local group=$1 name t0 t1 r order bytes
  shift
  local peers=() raw=0 write_only=0
  [[ $group == fullw ]] && write_only=1
  for name in "$@"; do
    if [[ $name == raw-* ]]; then raw=1; else peers+=("$name"); fi
  done
  ((${#peers[@]})) || return 0
  bytes=$(numfmt --from=iec "${GROUP_SIZE[$group]}")
  local seq=(--bs=1M --iodepth=8 --size="$bytes")
  local rand=(--bs=4k --iodepth=32 --size="$bytes" --norandommap --randrepeat=0
              --time_based --runtime="$slice")
  # Compressible data (about half), refilled for every write: the same bytes
  # for every peer, and no codec sees one buffer over and over.
  local data=(--buffer_compress_percentage=50 --refill_buffers)
  for name in "${peers[@]}"; do
    drop_cache "$name"
    start_peer "$name"
    t0=$(now)
    run_fio seqwrite "$name" 1 --rw=write "${seq[@]}" "${data[@]}" --end_fsync=1
    stop_peer "$name"
    t1=$(now)
    record "$group" seqwrite "$name" MiB/s "$(rate "$bytes" "$t0" "$t1")"
  done
  ((!write_only)) || return 0
  for name in "${peers[@]}"; do
    drop_cache "$name"
    start_peer "$name"
    t0=$(now)
    run_fio coldread "$name" 1 --rw=read "${seq[@]}"
    t1=$(now)
    record "$group" coldread "$name" MiB/s "$(rate "$bytes" "$t0" "$t1")"
    t0=$(now)
    run_fio warmread "$name" 1 --rw=read "${seq[@]}"
    t1=$(now)
    record "$group" warmread "$name" MiB/s "$(rate "$bytes" "$t0" "$t1")"
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
        run_fio "$row" "$name" "$r" --rw="$row" "${rand[@]}" "${data[@]}"
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
  if [[ -n $untar_ok ]]; then
    for name in "${peers[@]}"; do untar "$group" "$name"; done
  fi
  if ((raw)); then raw_backend "$group"; fi
}

version() { "$@" 2>&1 | head -n 1 || true; }
{
  echo "usbd: $(version "$work/usbd" --version)"
  echo "nbdkit: $(command -v nbdkit >/dev/null && version nbdkit --version || echo absent)"
  echo "qemu-nbd: $(command -v qemu-nbd >/dev/null && version qemu-nbd --version || echo absent)"
  echo "s3backer: $(command -v s3backer >/dev/null && version s3backer --version || echo absent)"
  echo "nginx: $([[ -n $NGINX ]] && version "$NGINX" -v || echo absent)"
  echo "s3rver: $([[ -n $S3RVER ]] && version "$S3RVER" --version || echo absent)"
  echo "moto_server: $([[ -n ${MOTO:-} ]] && version "$(dirname "$MOTO")/python" -c 'import moto; print(moto.__version__)' || echo absent)"
  echo "fio: $(version fio --version), curl: $(version curl --version | cut -d' ' -f1-2)"
} >"$work/versions.txt"
cat "$work/versions.txt"

# The untar row needs root (loop devices, mount) and nbdfuse.
untar_ok=
if [[ $(id -u) != 0 ]]; then
  skip untar all "not root: the untar row needs loop devices and mount"
elif ! command -v nbdfuse >/dev/null || ! command -v fusermount3 >/dev/null; then
  skip untar all "nbdfuse not installed (apt-get install nbdfuse)"
elif ! command -v mkfs.ext4 >/dev/null; then
  skip untar all "mkfs.ext4 not installed (apt-get install e2fsprogs)"
else
  tar -C "$(dirname "$tree")" -cf "$work/tree.tar" "$(basename "$tree")" 2>/dev/null ||
    fail "cannot tar $tree"
  untar_ok=1
  tree_desc="$tree: $(numfmt --to=iec "$(stat -c %s "$work/tree.tar")") in $(tar -tf "$work/tree.tar" | wc -l) entries"
fi

read -r load1 _ </proc/loadavg
if awk "BEGIN { exit !($load1 > 0.5) }"; then
  echo "peers.sh: warning: load average $load1 before starting: other work on this machine will skew the figures" >&2
fi
start_date=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
fstype=$(stat -f -c %T "$work")
settings="nginx at ${latency} ms round trip${bandwidth:+, $bandwidth Mbit/s per connection} (tests/tools/latency_proxy); size $size (moto group $s3_size) written, read cold and warm, volumes twice that (at least 1G), 256 KiB blocks; fio data 50% compressible; random rows 4k qd32 best of $rounds x $slice s; untar ${tree_desc:-skipped}; data and servers on $fstype; http and s3 groups: memory caches of $cache_blocks blocks on both, no codec; full group: cache file of $full_cache blocks, usbd --compress (zstd 1) --encrypt (AES-256-GCM), s3backer --compress=1 (zlib) --encrypt (AES-128-CBC); usbd args: ${usbd_args[*]:-none}"
echo "$start_date; $settings"

# Each group's data goes once the group is done: on tmpfs it is RAM, and a
# full run would otherwise hold about 9 GiB.
free_mib=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
need_mib=$(($(numfmt --from=iec "$size") * 4 >> 20))
((free_mib >= need_mib)) ||
  echo "peers.sh: warning: $free_mib MiB free in $work, a group needs about $need_mib MiB" >&2
truncate -s "$(volume_of local)" "$work/nbdkit.img" "$work/qemu.img"
run_group local "${local_peers[@]}"
rm -rf "$work/nbdkit.img" "$work/qemu.img" "$work/usbd-test"
run_group http "${http_peers[@]}"
[[ -z ${NGINX_ROOT:-} ]] || find "$NGINX_ROOT" -mindepth 1 -delete
run_group fullw "${fullw_peers[@]}"
rm -rf "$work"/*-fullw.cache*
[[ -z ${NGINX_ROOT:-} ]] || find "$NGINX_ROOT" -mindepth 1 -delete
run_group full "${full_peers[@]}"
rm -rf "$work"/*-full.cache*
[[ ! -d $work/s3rver ]] || find "$work/s3rver" -mindepth 2 -delete 2>/dev/null || true
run_group s3 "${s3_peers[@]}"

python3 - "$work" <<'EOF' | tee "$work/table.txt"
import collections, sys

work = sys.argv[1]
fig = collections.OrderedDict()
for line in open(f"{work}/results.tsv"):
    group, row, peer, unit, value = line.rstrip("\n").split("\t")
    fig[(group, row, peer)] = (unit, float(value))
skips = [l.rstrip("\n").split("\t") for l in open(f"{work}/skips.tsv")]

rows = [("seqwrite", "seq write 1M qd8 + stored"), ("coldread", "cold seq read 1M qd8"),
        ("warmread", "warm seq read 1M qd8"), ("randread", "rand read 4k qd32"),
        ("randwrite", "rand write 4k qd32"), ("untar", "untar to ext4 + stored")]
groups = [("local", "usbd-test", "local files", ["nbdkit-file", "qemu-nbd"]),
          ("http", "usbd-http", "nginx dav", ["s3backer-http", "raw-http"]),
          ("fullw", "usbd-fullw", "nginx zstd+AES", ["s3backer-fullw"]),
          ("full", "usbd-full", "s3rver zstd+AES", ["s3backer-full", "raw-full"]),
          ("s3", "usbd-s3", "moto S3", ["s3backer-s3", "nbdkit-s3", "raw-s3"])]
head = (f"{'workload':<26} {'backend':<15} {'peer':<13} {'unit':>5} "
        f"{'usbd':>9} {'peer':>9} {'usbd/peer':>9}")
print(head)
print("-" * len(head))
for group, us, backend, peers in groups:
    for row, label in rows:
        for peer in peers:
            u, p = fig.get((group, row, us)), fig.get((group, row, peer))
            if not u or not p:
                continue
            if peer.startswith("raw-"):
                label = {"seqwrite": "seq write vs raw PUT", "coldread": "cold read vs raw GET"}[row]
            ratio = u[1] / p[1] if p[1] else float("inf")
            print(f"{label:<26} {backend:<15} {peer:<13} {u[0]:>5} "
                  f"{u[1]:>9.0f} {p[1]:>9.0f} {ratio:>9.2f}")
for group, peer, reason in skips:
    print(f"{'SKIP':<26} {group:<15} {peer:<13} {reason}")
print("usbd/peer above 1: usbd faster. '+ stored': size / (write + sync + stop,"
      " which uploads everything); random rows: best slice; raw: best of 8 and 16"
      " transfers in flight")
EOF

if [[ $record == 1 ]]; then
  [[ -s $script_dir/RESULTS.md ]] ||
    printf '# bench/peers.sh results\n\nOne section per run of `bench/peers.sh`.\n' >"$script_dir/RESULTS.md"
  {
    echo
    echo "## bench/peers.sh, $start_date"
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 2^20 }' /proc/meminfo) RAM, kernel $(uname -r), load average at start $load_start"
    echo "- settings: $settings"
    sed 's/^/- /' "$work/versions.txt"
    echo
    sed 's/^/    /' "$work/table.txt"
  } >>"$script_dir/RESULTS.md"
  echo "appended to $script_dir/RESULTS.md"
fi
