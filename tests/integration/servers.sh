# shellcheck shell=bash
# Real object stores for the integration tests, on free loopback ports:
# moto_server (S3, SigV4 checked for real with a key made through IAM),
# Ceph's RADOS Gateway (S3 on a throwaway one-node cluster), nginx with its
# dav module (plain HTTP store) and tests/tools/fault_proxy.py (a
# fault-injecting proxy to put between usbd and any of them).
#
# Source it after lib.sh (it uses TMP, on_exit and fail):
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/servers.sh"
#   require_moto                       # or require_rgw, require_nginx,
#                                      # require_s3: SKIP (77) if absent
#   start_moto; moto_create_bucket vol
#   start_s3; s3_create_bucket vol     # moto or rgw, as S3_SERVER says
#   start_nginx_dav
#   start_fault_proxy "$MOTO_ENDPOINT"
# Every server is killed when the test exits; when it fails, the end of each
# server's log is shown beside usbd's.
# It also holds the NBD-side helpers of the store tests (s3_nbd.sh,
# http_nbd.sh): refused, nbd_op/expect_op (errno of
# one NBD request), expect_map, names_both, later_fail/finish_test
# (start_named/stop_named are in lib.sh).

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
FAULT_PROXY_PY="$top_srcdir/tests/tools/fault_proxy.py"

# lib.sh's cleanup runs the on_exit commands with their output thrown away;
# the server logs go to the test's stderr through this saved descriptor.
exec {SERVERS_STDERR}>&2
declare -a SERVER_LOGS=()
servers_show_logs() {
  # $status is cleanup()'s local exit status (bash scoping is dynamic).
  local rc=${status:-0} log
  { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; } || return 0
  for log in "${SERVER_LOGS[@]}"; do
    [ -s "$log" ] || continue
    echo "--- $log ---"
    tail -n 20 "$log"
  done >&"$SERVERS_STDERR"
}
on_exit servers_show_logs

# find_tool NAME: prints the path of NAME, or nothing. moto_server and the aws
# cli may live only in the machine's pyenv Python 3.11, nginx in /usr/sbin.
find_tool() {
  local dir
  if command -v "$1" >/dev/null 2>&1 && "$1" --version >/dev/null 2>&1; then
    command -v "$1"
    return 0
  fi
  for dir in "$HOME"/.pyenv/versions/3.11*/bin /root/.pyenv/versions/3.11*/bin \
             /usr/sbin /usr/local/sbin; do
    if [ -x "$dir/$1" ]; then echo "$dir/$1"; return 0; fi
  done
  return 0
}

# free_port: a loopback TCP port nobody listens on now.
free_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 12000))  # below the kernel's ephemeral range (32768+)
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
}

# wait_for_port PORT PID NAME: until something accepts on PORT. Returns 1
# when PID exits first (another program may have taken the port between
# free_port and the bind: the caller tries another); fails after 15 s.
wait_for_port() {
  local i
  for ((i = 0; i < 150; i++)); do
    kill -0 "$2" 2>/dev/null || { wait "$2" 2>/dev/null || true; return 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  fail "$3 did not listen on port $1 within 15 s"
}

# --- moto_server (S3) ----------------------------------------------------------

MOTO=
AWS=
# have_moto: true when moto_server and the aws cli are installed; sets MOTO
# and AWS.
have_moto() {
  MOTO=$(find_tool moto_server)
  if [ -n "$MOTO" ] && [ -x "$(dirname "$MOTO")/aws" ]; then
    AWS=$(dirname "$MOTO")/aws
  else
    AWS=$(find_tool aws)
  fi
  [ -n "$MOTO" ] && [ -n "$AWS" ]
}

# require_moto: exits 77 (SKIP), loudly, unless have_moto.
require_moto() {
  if ! have_moto; then
    echo "SKIP: $TEST_NAME needs moto_server and the aws cli, which are not installed" >&2
    echo "SKIP: install them with: pip install 'moto[server]' awscli" >&2
    exit 77
  fi
}

# start_moto: starts moto_server, makes an IAM user with a key allowed
# everything, and exports
#   MOTO_ENDPOINT     http://127.0.0.1:PORT (no trailing slash)
#   MOTO_PORT, MOTO_PID
#   MOTO_KEY_ID, and MOTO_SECRET (set, not exported)
#   MOTO_ACCESS_FILE  $TMP/moto.passwd, one "KEYID:SECRET" line (mode 0600)
# After the first three unauthenticated calls (which make the user and its
# key) moto checks every signature, so SigV4 is tested for real.
start_moto() {
  [ -n "$MOTO" ] || require_moto
  SERVER_LOGS+=("$TMP/moto.log")
  local try
  for try in 1 2 3 4; do
    [ $try -lt 4 ] || fail "moto_server exited during start (see its log)"
    MOTO_PORT=$(free_port)
    INITIAL_NO_AUTH_ACTION_COUNT=3 "$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" \
      >>"$TMP/moto.log" 2>&1 &
    MOTO_PID=$!
    on_exit "kill $MOTO_PID"
    wait_for_port "$MOTO_PORT" "$MOTO_PID" moto_server && break
  done
  MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
  # Keep the aws cli away from the user's configuration and keys.
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap \
    moto_aws_raw iam create-user --user-name usbd-test >/dev/null ||
    fail "moto: cannot create the IAM user"
  local key_id secret
  read -r key_id secret < <(AWS_ACCESS_KEY_ID=bootstrap \
    AWS_SECRET_ACCESS_KEY=bootstrap moto_aws_raw iam create-access-key \
    --user-name usbd-test --query 'AccessKey.[AccessKeyId,SecretAccessKey]')
  [ -n "$key_id" ] && [ -n "$secret" ] || fail "moto: no access key made"
  AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap \
    moto_aws_raw iam put-user-policy --user-name usbd-test --policy-name all \
    --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' ||
    fail "moto: cannot attach the IAM policy"
  MOTO_KEY_ID=$key_id
  MOTO_SECRET=$secret
  MOTO_ACCESS_FILE="$TMP/moto.passwd"
  (umask 077 && printf '%s:%s\n' "$MOTO_KEY_ID" "$MOTO_SECRET" \
    >"$MOTO_ACCESS_FILE")
  # Not MOTO_SECRET: every child (usbd included) would carry it around.
  export MOTO_ENDPOINT MOTO_PORT MOTO_PID MOTO_KEY_ID MOTO_ACCESS_FILE
}

moto_aws_raw() {
  "$AWS" --endpoint-url "$MOTO_ENDPOINT" --region us-east-1 --output text "$@"
}

# moto_aws ARGS...: the aws cli against moto, with the test user's key (in
# the environment of that command only, never on a command line).
moto_aws() {
  AWS_ACCESS_KEY_ID=$MOTO_KEY_ID AWS_SECRET_ACCESS_KEY=$MOTO_SECRET \
    moto_aws_raw "$@"
}

moto_create_bucket() {  # NAME
  moto_aws s3api create-bucket --bucket "$1" >/dev/null ||
    fail "moto: cannot create bucket $1"
}

# moto_list_keys BUCKET: the bucket's object keys, one a line, sorted.
moto_list_keys() {
  moto_aws s3api list-objects-v2 --bucket "$1" --query 'Contents[].Key' \
    --output json | python3 -c '
import json, sys
keys = json.load(sys.stdin) or []
for k in sorted(keys):
    print(k)'
}

# tamper_body FILE: flips one byte in the middle of FILE.
tamper_body() {
  python3 -c '
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x40
open(sys.argv[1], "wb").write(data)' "$1"
}

# moto_tamper_object BUCKET KEY: see s3_tamper_object.
moto_tamper_object() {
  local body="$TMP/tamper.body" meta="$TMP/tamper.json"
  moto_aws s3api get-object --output json --bucket "$1" --key "$2" "$body" \
    >"$meta" ||
    fail "cannot read s3://$1/$2"
  python3 - "$body" "$meta" "$TMP/tamper.args" <<'PY'
import json, sys
body, meta, args = sys.argv[1:]
info = json.load(open(meta))
with open(args, "w") as out:
    if info.get("ContentEncoding"):
        out.write("--content-encoding\n%s\n" % info["ContentEncoding"])
    if info.get("Metadata"):
        out.write("--metadata\n%s\n" % json.dumps(info["Metadata"]))
PY
  tamper_body "$body"
  local -a args=()
  mapfile -t args <"$TMP/tamper.args"
  moto_aws s3api put-object --bucket "$1" --key "$2" --body "$body" \
    "${args[@]}" >/dev/null || fail "cannot write s3://$1/$2"
}

moto_get() { moto_aws s3 cp "s3://$1/$2" -; }            # BUCKET KEY
moto_put() { moto_aws s3 cp "$1" "s3://$2/$3" >/dev/null; }  # FILE BUCKET KEY
moto_download() {  # BUCKET DIR
  moto_aws s3 cp --recursive --quiet "s3://$1/" "$2/"
}
moto_kms_key_id() {  # BUCKET KEY
  moto_aws s3api head-object --bucket "$1" --key "$2" --query SSEKMSKeyId
}

# --- Ceph RADOS Gateway (S3): servers_rgw.sh -----------------------------------
source "$(dirname "${BASH_SOURCE[0]}")/servers_rgw.sh"

# --- S3 on either server -----------------------------------------------------
# The S3 tests run on moto_server or on Ceph's RADOS Gateway. S3_SERVER=moto
# or S3_SERVER=rgw chooses; without it, moto when it is installed, else rgw.
# S3_STYLE=vhost addresses buckets as BUCKET.localhost (both servers take
# it; the default, path, puts them in the path).
#   have_s3           true when the chosen server is installed
#   require_s3        SKIP (77), loudly, unless it is
#   start_s3          starts it and exports S3_SERVER, S3_ENDPOINT (no
#                     trailing slash), S3_PORT, S3_KEY_ID, S3_ACCESS_FILE;
#                     sets S3_SECRET (not exported), S3_URL (usbd's
#                     --baseURL and --vhost for it) and S3_ARGS (S3_URL and
#                     --accessFile)
#   s3_create_bucket NAME, s3_list_keys BUCKET (sorted), s3_get BUCKET KEY
#   (to stdout), s3_put FILE BUCKET KEY, s3_download BUCKET DIR (every
#   object, as DIR/KEY), s3_kms_key_id BUCKET KEY (the KMS key of an
#   object's SSE-KMS): with the test user's key
have_s3() {
  if [ -z "${S3_SERVER:-}" ]; then
    if have_moto; then S3_SERVER=moto; elif have_rgw; then S3_SERVER=rgw; fi
  fi
  case ${S3_SERVER:-} in
    moto) have_moto ;;
    rgw) have_rgw ;;
    "") return 1 ;;
    *) fail "S3_SERVER=$S3_SERVER: expected moto or rgw" ;;
  esac
}

require_s3() {
  if ! have_s3; then
    case ${S3_SERVER:-} in
      moto) require_moto ;;
      rgw) require_rgw ;;
    esac
    echo "SKIP: $TEST_NAME needs an S3 server: moto_server and the aws cli, or Ceph's RADOS Gateway; neither is installed" >&2
    echo "SKIP: install the gateway with: apt-get install --no-install-recommends ceph-mon ceph-osd radosgw" >&2
    exit 77
  fi
  case ${S3_STYLE:=path} in
    path | vhost) ;;
    *) fail "S3_STYLE=$S3_STYLE: expected path or vhost" ;;
  esac
}

start_s3() {
  require_s3
  local upper=${S3_SERVER^^}
  "start_$S3_SERVER"
  local endpoint=${upper}_ENDPOINT port=${upper}_PORT key=${upper}_KEY_ID \
    secret=${upper}_SECRET access=${upper}_ACCESS_FILE
  S3_ENDPOINT=${!endpoint} S3_PORT=${!port} S3_KEY_ID=${!key}
  S3_SECRET=${!secret} S3_ACCESS_FILE=${!access}
  S3_URL=(--baseURL="$S3_ENDPOINT/")
  [ "$S3_STYLE" = path ] || S3_URL=(--vhost --baseURL="http://localhost:$S3_PORT/")
  S3_ARGS=("${S3_URL[@]}" --accessFile="$S3_ACCESS_FILE")
  export S3_SERVER S3_ENDPOINT S3_PORT S3_KEY_ID S3_ACCESS_FILE
  echo "S3 server: $S3_SERVER at $S3_ENDPOINT ($S3_STYLE style)" >&2
}

s3_create_bucket() { "${S3_SERVER}_create_bucket" "$@"; }
s3_list_keys() { "${S3_SERVER}_list_keys" "$@"; }
s3_get() { "${S3_SERVER}_get" "$@"; }
s3_put() { "${S3_SERVER}_put" "$@"; }
s3_download() { "${S3_SERVER}_download" "$@"; }
s3_kms_key_id() { "${S3_SERVER}_kms_key_id" "$@"; }
# s3_tamper_object BUCKET KEY: flips one byte in the middle of the object's
# body and stores it again with its headers (Content-Encoding and the
# x-amz-meta-* ones), as a change at rest would leave it.
s3_tamper_object() { "${S3_SERVER}_tamper_object" "$@"; }

# --- nginx with dav (plain HTTP) ----------------------------------------------

NGINX=
# have_nginx: true when nginx is installed; sets NGINX.
have_nginx() {
  NGINX=$(find_tool nginx)
  [ -n "$NGINX" ]
}

# require_nginx: exits 77 (SKIP), loudly, unless have_nginx.
require_nginx() {
  if ! have_nginx; then
    echo "SKIP: $TEST_NAME needs nginx (with its dav module), which is not installed" >&2
    echo "SKIP: install it with: apt-get install nginx" >&2
    exit 77
  fi
}

# start_nginx_dav: nginx serving $TMP/dav with PUT and DELETE (dav), and
# exports NGINX_PORT, NGINX_PID, NGINX_URL (http://127.0.0.1:PORT/, with the
# slash) and NGINX_ROOT (the directory holding what was PUT).
start_nginx_dav() {
  [ -n "$NGINX" ] || require_nginx
  NGINX_ROOT="$TMP/dav"
  mkdir -p "$NGINX_ROOT" "$TMP/nginx"
  local user=
  [ "$(id -u)" -eq 0 ] && user="user root;"
  SERVER_LOGS+=("$TMP/nginx.log")
  local try
  for try in 1 2 3 4; do
    [ $try -lt 4 ] || fail "nginx exited during start (see its log)"
    NGINX_PORT=$(free_port)
    cat >"$TMP/nginx.conf" <<CONF
$user
worker_processes 2;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx.log crit;
events { worker_connections 256; }
http {
  access_log off;
  log_not_found off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $NGINX_ROOT;
    client_max_body_size 64m;
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw;
    }
  }
}
CONF
    "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx.conf" -g 'daemon off;' \
      >>"$TMP/nginx.log" 2>&1 &
    NGINX_PID=$!
    on_exit "kill $NGINX_PID"
    wait_for_port "$NGINX_PORT" "$NGINX_PID" nginx && break
  done
  NGINX_URL="http://127.0.0.1:$NGINX_PORT/"
  export NGINX_PORT NGINX_PID NGINX_URL NGINX_ROOT
}

# --- fault proxy ---------------------------------------------------------------

# start_fault_proxy UPSTREAM [PORT]: tests/tools/fault_proxy.py in front of
# UPSTREAM (http://HOST:PORT); PORT (default: a free one) lets a stopped
# proxy come back on the same address. Exports PROXY_PORT, PROXY_PID,
# PROXY_URL (http://127.0.0.1:PORT/, with the slash).
start_fault_proxy() {
  local upstream=$1 port=${2:-0}
  [ -f "$FAULT_PROXY_PY" ] || fail "no $FAULT_PROXY_PY"
  rm -f "$TMP/proxy.port"
  python3 -u "$FAULT_PROXY_PY" --upstream "$upstream" \
    --listen "127.0.0.1:$port" --port-file "$TMP/proxy.port" --seed 1 -v \
    >>"$TMP/proxy.log" 2>&1 &
  PROXY_PID=$!
  on_exit "kill $PROXY_PID"
  case " ${SERVER_LOGS[*]} " in
    *" $TMP/proxy.log "*) ;;
    *) SERVER_LOGS+=("$TMP/proxy.log") ;;
  esac
  local i
  for ((i = 0; i < 150; i++)); do
    [ -s "$TMP/proxy.port" ] && break
    kill -0 "$PROXY_PID" 2>/dev/null || fail "fault_proxy exited during start"
    sleep 0.1
  done
  [ -s "$TMP/proxy.port" ] || fail "fault_proxy did not start within 15 s"
  PROXY_PORT=$(cat "$TMP/proxy.port")
  PROXY_URL="http://127.0.0.1:$PROXY_PORT/"
  export PROXY_PORT PROXY_PID PROXY_URL
}

# start_latency_proxy HOST:PORT DELAY_MS [MBIT_PER_S]: tests/tools/latency_proxy
# (built by make check) in front of HOST:PORT, holding every byte DELAY_MS/2
# in each direction, on a free port; sets LATENCY_PORT, LATENCY_PID.
LATENCY_PROXY=${top_builddir:-$top_srcdir}/tests/tools/latency_proxy
start_latency_proxy() {
  [ -x "$LATENCY_PROXY" ] || fail "no $LATENCY_PROXY (make tests/tools/latency_proxy)"
  rm -f "$TMP/latency.out"
  "$LATENCY_PROXY" 0 "$@" >"$TMP/latency.out" 2>&1 &
  LATENCY_PID=$!
  on_exit "kill $LATENCY_PID"
  local i
  for ((i = 0; i < 150; i++)); do
    LATENCY_PORT=$(sed -n 's/^listening //p' "$TMP/latency.out")
    [ -n "$LATENCY_PORT" ] && return 0
    kill -0 "$LATENCY_PID" 2>/dev/null ||
      fail "latency_proxy exited: $(cat "$TMP/latency.out")"
    sleep 0.1
  done
  fail "latency_proxy did not start within 15 s"
}

# stop_fault_proxy: kills it (its address then refuses connections).
stop_fault_proxy() {
  [ -n "${PROXY_PID:-}" ] || return 0
  kill "$PROXY_PID" 2>/dev/null || true
  wait "$PROXY_PID" 2>/dev/null || true
  PROXY_PID=
}

# fault_control METHOD [PATH] [BODY]: one request to the proxy's control
# endpoint; prints its JSON answer.
fault_control() {
  local method=$1 sub=${2:-} body=${3:-}
  local args=(-sS --fail -X "$method")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
  curl "${args[@]}" "http://127.0.0.1:$PROXY_PORT/__fault__$sub" ||
    fail "fault proxy control: $method /__fault__$sub failed"
}

# fault_set JSON: replaces every rule (a rule, a list, or {"rules": [...]}).
fault_set() { fault_control PUT "" "$1" >/dev/null; }
# fault_clear: removes every rule and resets the counters.
fault_clear() {
  fault_control DELETE >/dev/null
  fault_control DELETE /stats >/dev/null
}
# fault_stat EXPR: a Python expression over the proxy's state (s), e.g.
# 'sum(r["fired"] for r in s["rules"])' or 's["stats"]["faults"]["reset"]'.
fault_stat() {
  fault_control GET | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}

# --- NBD client helpers shared by the store tests -----------------------------

# require_nbd_py: sets NBD_PY, a python3 with libnbd's module (what nbdsh
# runs), which gives an NBD error's errno; SKIP (77) without nbdsh.
NBD_PY=
require_nbd_py() {
  require_tool nbdsh
  local py
  for py in python3 /usr/bin/python3; do
    if "$py" -c 'import nbd' 2>/dev/null; then NBD_PY=$py; return 0; fi
  done
  fail "nbdsh is installed but no python3 imports its nbd module"
}


# refused OUT ARGS...: a usbd that must fail at start (not hang, not serve);
# its output goes to OUT (and the test's log), its status to REFUSED_RC.
refused() {
  local out=$1
  shift
  REFUSED_RC=0
  rm -f "$TMP/refused.sock"
  timeout 20 "$USBD" -f --listen="unix:$TMP/refused.sock" "$@" >"$out" 2>&1 ||
    REFUSED_RC=$?
  cat "$out" >>"$TMP/usbd.log"
  [ $REFUSED_RC -ne 124 ] ||
    fail "usbd $* was not refused: still running after 20 s"
  [ $REFUSED_RC -ne 0 ] || fail "usbd $* exited 0, expected a refusal"
  [ ! -e "$TMP/refused.sock" ] || fail "refused usbd $* left its socket behind"
}

# nbd_op URI OP OFFSET LENGTH [FILE]: one NBD request, sent even where
# libnbd would refuse it itself (strict mode off), so the server answers.
# OP: read (compared with FILE at OFFSET when given), write (FILE's bytes at
# OFFSET, else 0x5a), trim, zero. Prints ok, mismatch, or the errno's name.
nbd_op() {
  timeout 60 "$NBD_PY" - "$@" <<'PY' || echo "nbd_op-failed-$?"
import nbd, sys
uri, op, off, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
src = sys.argv[5] if len(sys.argv) > 5 else None
def expected():
    if src is None:
        return b"\x5a" * length
    with open(src, "rb") as f:
        f.seek(off)
        return f.read(length)
h = nbd.NBD()
h.set_strict_mode(0)
h.connect_uri(uri)
try:
    if op == "read":
        got = h.pread(length, off)
        print("ok" if src is None or got == expected() else "mismatch")
    elif op == "write":
        h.pwrite(expected(), off)
        print("ok")
    elif op == "trim":
        h.trim(length, off)
        print("ok")
    elif op == "zero":
        h.zero(length, off)
        print("ok")
    else:
        sys.exit("nbd_op: unknown op " + op)
except nbd.Error as e:
    sys.stderr.write("nbd_op %s %d+%d: %s\n" % (op, off, length, e))
    print(e.errno or "error")
try:
    h.shutdown()
except nbd.Error:
    pass
PY
}

expect_op() {  # EXPECTED URI OP OFFSET LENGTH [FILE]
  local want=$1 got
  shift
  got=$(nbd_op "$@")
  [ "$got" = "$want" ] || fail "NBD $2 at $3+$4 on $1: expected $want, got '$got'"
}

names_both() {  # FILE WHAT ERE1 ERE2: FILE names both values
  grep -qiE -- "(^|[^0-9])$3" "$1" && grep -qiE -- "(^|[^0-9])$4" "$1" ||
    fail "$2 does not name both values ($3, $4): $(cat "$1")"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The map as "start length type" lines, adjacent extents of a type merged.
map() {  # URI
  nbdinfo --map "$1" | awk '
    { if (n && $3 == type && $1 == start + len) { len += $2; next }
      if (n) print start, len, type
      start = $1; len = $2; type = $3; n = 1 }
    END { if (n) print start, len, type }'
}
expect_map() {  # URI WHAT EXPECTED
  local got
  got=$(map "$1") || fail "nbdinfo --map failed ($2)"
  [ "$got" = "$3" ] ||
    fail "unexpected map $2: expected [$(tr '\n' ';' <<<"$3")], got [$(tr '\n' ';' <<<"$got")]"
}

# later_fail MESSAGE: a failure reported now but acted on by finish_test, so
# that one bug does not hide what the rest of the test would find.
declare -a LATER_FAILURES=()
later_fail() {
  echo "FAIL (at the end): $TEST_NAME: $*" >&2
  LATER_FAILURES+=("$*")
}
# finish_test: fails with the deferred failures, if any, else prints PASS.
finish_test() {
  if [ ${#LATER_FAILURES[@]} -gt 0 ]; then
    local msg
    for msg in "${LATER_FAILURES[@]}"; do echo "FAIL: $TEST_NAME: $msg" >&2; done
    fail "${#LATER_FAILURES[@]} deferred failure(s), listed above"
  fi
  echo "PASS: $TEST_NAME"
}
