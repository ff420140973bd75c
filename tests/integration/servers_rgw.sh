# shellcheck shell=bash
# Ceph's RADOS Gateway as the tests' S3 server, sourced by servers.sh (which
# see for the other servers and start_s3, which picks one).
# A throwaway single-node Ceph cluster in $TMP/rgw: one monitor, one OSD
# that keeps its objects in RAM (memstore), and radosgw with its beast
# frontend on a loopback port; no mgr, which S3 does not need. It starts in
# 2 to 3 s and takes about 140 MiB (the OSD grows with what is stored). The
# helpers sign their requests with SigV4 by curl (--aws-sigv4): the aws cli
# is not part of Debian 12.

RGW_TOOLS="ceph ceph-authtool ceph-mon ceph-osd monmaptool radosgw radosgw-admin uuidgen"
# have_rgw: true when Ceph's daemons and tools are installed, and a curl
# that signs with SigV4.
have_rgw() {
  local tool
  for tool in $RGW_TOOLS; do
    command -v "$tool" >/dev/null 2>&1 || return 1
  done
  curl --help all 2>/dev/null | grep -q -- --aws-sigv4
}

# require_rgw: exits 77 (SKIP), loudly, unless have_rgw.
require_rgw() {
  if ! have_rgw; then
    echo "SKIP: $TEST_NAME needs Ceph's RADOS Gateway ($RGW_TOOLS) and curl 7.75 or later, which are not installed" >&2
    echo "SKIP: install them with: apt-get install --no-install-recommends ceph-mon ceph-osd radosgw" >&2
    exit 77
  fi
}

# start_rgw: starts the cluster, makes an S3 user, and exports
#   RGW_ENDPOINT     http://127.0.0.1:PORT (no trailing slash); radosgw
#                    takes virtual-host requests for BUCKET.localhost:PORT
#   RGW_PORT, RGW_PID (radosgw's), RGW_DIR (the cluster's directory)
#   RGW_KEY_ID, and RGW_SECRET (set, not exported)
#   RGW_ACCESS_FILE  one "KEYID:SECRET" line (mode 0600)
#   RGW_CURL_CONFIG  curl's options to sign as that user (mode 0600)
start_rgw() {
  have_rgw || require_rgw
  RGW_DIR="$TMP/rgw"
  SERVER_LOGS+=("$RGW_DIR/out/mon.a.log" "$RGW_DIR/out/osd.0.log"
    "$RGW_DIR/out/client.rgw.a.log")
  on_exit rgw_kill
  local try
  for try in 1 2 3 4; do
    [ $try -lt 4 ] || fail "rgw: the cluster did not start (see its logs)"
    rgw_try_start && break
    rgw_kill
  done
  local keys
  keys=$(timeout 60 radosgw-admin -c "$RGW_DIR/ceph.conf" user create \
    --uid=usbd-test --display-name=usbd-test 2>>"$RGW_DIR/out/admin.log") ||
    fail "rgw: radosgw-admin cannot create the S3 user"
  read -r RGW_KEY_ID RGW_SECRET < <(python3 -c '
import json, sys
key = json.load(sys.stdin)["keys"][0]
print(key["access_key"], key["secret_key"])' <<<"$keys")
  [ -n "$RGW_KEY_ID" ] && [ -n "$RGW_SECRET" ] || fail "rgw: no access key made"
  RGW_ENDPOINT="http://127.0.0.1:$RGW_PORT"
  RGW_ACCESS_FILE="$RGW_DIR/rgw.passwd"
  RGW_CURL_CONFIG="$RGW_DIR/curl.conf"
  (umask 077 &&
    printf '%s:%s\n' "$RGW_KEY_ID" "$RGW_SECRET" >"$RGW_ACCESS_FILE" &&
    printf 'aws-sigv4 = "aws:amz:us-east-1:s3"\nuser = "%s:%s"\n' \
      "$RGW_KEY_ID" "$RGW_SECRET" >"$RGW_CURL_CONFIG")
  export RGW_ENDPOINT RGW_PORT RGW_PID RGW_DIR RGW_KEY_ID RGW_ACCESS_FILE \
    RGW_CURL_CONFIG
}

# rgw_try_start: one attempt on fresh ports; 1 when a daemon exits during
# its start (another program took its port).
rgw_try_start() {
  local dir=$RGW_DIR conf=$RGW_DIR/ceph.conf fsid mon_port osd_uuid i pid
  rm -rf "$dir"
  mkdir -p "$dir/out" "$dir/dev/mon.a" "$dir/dev/osd0" "$dir/dev/rgw.a"
  mon_port=$(free_port)
  RGW_PORT=$(free_port)
  [ "$RGW_PORT" != "$mon_port" ] || return 1
  fsid=$(uuidgen)
  rgw_write_conf "$fsid" "$mon_port"
  # Every key the cluster needs goes into the monitor's first keyring, so
  # no "ceph auth" round trip is needed later.
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. \
    --cap mon 'allow *' >/dev/null &&
    ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' \
      --cap osd 'allow *' --cap mgr 'allow *' >/dev/null &&
    ceph-authtool "$dir/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' \
      --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null &&
    ceph-authtool "$dir/keyring" --gen-key -n client.rgw.a --cap mon 'allow rw' \
      --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null &&
    monmaptool --create --clobber --fsid "$fsid" \
      --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null &&
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" \
      --keyring "$dir/keyring" >>"$dir/out/setup.log" 2>&1 ||
    fail "rgw: cannot make the monitor's keys and data (see $dir/out)"

  ceph-mon -c "$conf" -i a -f </dev/null >>"$dir/out/mon.a.stdout" 2>&1 &
  RGW_MON_PID=$!
  # The OSD must be in the map before it starts; "osd new" waits for the
  # monitor to answer.
  osd_uuid=$(uuidgen)
  i=$(timeout 30 ceph -c "$conf" --connect-timeout 20 osd new "$osd_uuid" \
    2>>"$dir/out/setup.log") || return 1
  [ "$i" = 0 ] || fail "rgw: the new OSD has id '$i', expected 0"
  # --no-mon-config: mkfs must not ask the monitor for its configuration.
  ceph-osd -c "$conf" -i 0 --mkfs --no-mon-config --osd-uuid "$osd_uuid" \
    >>"$dir/out/setup.log" 2>&1 || fail "rgw: ceph-osd --mkfs failed"
  ceph-osd -c "$conf" -i 0 -f </dev/null >>"$dir/out/osd.0.stdout" 2>&1 &
  RGW_OSD_PID=$!
  # radosgw creates its pools itself and answers once the OSD is up.
  radosgw -c "$conf" -n client.rgw.a -f </dev/null \
    >>"$dir/out/rgw.a.stdout" 2>&1 &
  RGW_PID=$!
  for ((i = 0; i < 600; i++)); do
    [[ $(curl -s --max-time 2 "http://127.0.0.1:$RGW_PORT/" 2>/dev/null) == \
      *ListAllMyBucketsResult* ]] && return 0
    for pid in $RGW_MON_PID $RGW_OSD_PID $RGW_PID; do
      kill -0 "$pid" 2>/dev/null || return 1
    done
    sleep 0.1
  done
  fail "rgw: radosgw did not answer on port $RGW_PORT within 60 s"
}

rgw_write_conf() {  # FSID MON_PORT
  local dir=$RGW_DIR
  cat >"$dir/ceph.conf" <<CONF
[global]
fsid = $1
mon host = [v2:127.0.0.1:$2]
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/out
log file = $dir/out/\$name.log
admin socket = $dir/out/\$name.asok
pid file = $dir/out/\$name.pid
crash dir = $dir/out/crash
log to syslog = false
err to syslog = false
clog to syslog = false
log to journald = false
# One OSD holds every copy.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon osd nearfull ratio = 0.98
mon osd backfillfull ratio = 0.99
mon osd full ratio = 0.995

[mon]
mon data = $dir/dev/mon.\$id
# Each pool radosgw creates commits at once, not after a 1 s batch.
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $dir/dev/osd\$id
osd objectstore = memstore
memstore device bytes = 4294967296

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $dir/dev/rgw.a
rgw thread pool size = 64
# Virtual-host style: BUCKET.localhost (curl and libcurl resolve every
# name under localhost to the loopback address themselves).
rgw dns name = localhost
# SSE-KMS with one key, usbd-key-1, kept in this file (s3_nbd.sh's
# --sse-key-id); radosgw asks for TLS unless told otherwise.
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = usbd-key-1=$(openssl rand -base64 32)
rgw crypt require ssl = false
CONF
}

# rgw_kill: SIGKILL for the whole cluster (it is thrown away with $TMP).
rgw_kill() {
  local pids="${RGW_PID:-} ${RGW_OSD_PID:-} ${RGW_MON_PID:-}"
  [ -n "${pids// /}" ] || return 0
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  # shellcheck disable=SC2086
  wait $pids 2>/dev/null || true
  RGW_PID= RGW_OSD_PID= RGW_MON_PID=
}

# rgw_curl METHOD PATH [FILE [CURL ARGS...]]: one request signed as the test
# user; PATH is /BUCKET[/KEY][?QUERY], FILE the body ("" or none: no body).
# The answer's body (the headers, for HEAD) goes to stdout, or, with an
# HTTP error, to stderr. curl 7.88 leaves the payload's hash out, without
# which radosgw finds that no signature matches: it is given here.
rgw_curl() {
  local method=$1 path=$2 body=${3:-} hash code
  shift $(($# < 3 ? $# : 3))
  local args=(-X "$method") out="$RGW_DIR/curl.$BASHPID"
  [ "$method" != HEAD ] || args=(-I)
  if [ -n "$body" ]; then
    hash=$(sha256sum <"$body")
    args+=(--data-binary "@$body" -H "Content-Type: application/octet-stream")
  else
    hash=$(sha256sum </dev/null)
  fi
  code=$(curl -sS -K "$RGW_CURL_CONFIG" -H "x-amz-content-sha256: ${hash%% *}" \
    "${args[@]}" "$@" -o "$out" -w '%{http_code}' "$RGW_ENDPOINT$path") ||
    code=000
  if [ "${code:0:1}" = 2 ]; then
    cat "$out"
    rm -f "$out"
    return 0
  fi
  echo "rgw: $method $path: HTTP $code: $(cat "$out" 2>/dev/null)" >&2
  rm -f "$out"
  return 1
}

rgw_create_bucket() {  # NAME
  rgw_curl PUT "/$1" >/dev/null || fail "rgw: cannot create bucket $1"
}

# rgw_list_keys BUCKET: the bucket's object keys, one a line, sorted.
rgw_list_keys() {
  local query=list-type=2 page out
  while [ "$query" != - ]; do
    page=$(rgw_curl GET "/$1?$query") || return 1
    # The query of the next page ("-" after the last one), then the keys.
    out=$(python3 -c '
import sys, urllib.parse, xml.etree.ElementTree as ET
ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
root = ET.fromstring(sys.stdin.read())
token = root.findtext("s3:NextContinuationToken", "", ns)
if root.findtext("s3:IsTruncated", "", ns) == "true" and token:
    print("continuation-token=%s&list-type=2" % urllib.parse.quote(token, safe=""))
else:
    print("-")
for key in root.findall("s3:Contents/s3:Key", ns):
    print(key.text)' <<<"$page") || return 1
    query=${out%%$'\n'*}
    [ "$out" = "$query" ] || printf '%s\n' "${out#*$'\n'}"
  done | sort
}

rgw_get() {  # BUCKET KEY: the object on stdout
  rgw_curl GET "/$1/$2"
}

rgw_put() {  # FILE BUCKET KEY
  rgw_curl PUT "/$2/$3" "$1" >/dev/null
}

rgw_tamper_object() {  # BUCKET KEY: see s3_tamper_object (servers.sh)
  local body="$RGW_DIR/tamper.body" name value
  local -a headers=()
  rgw_get "$1" "$2" >"$body" || return 1
  while IFS=: read -r name value; do
    value=${value%$'\r'}
    value=${value# }
    case ${name,,} in
      content-encoding | x-amz-meta-*) headers+=(-H "${name,,}: $value") ;;
    esac
  done < <(rgw_curl HEAD "/$1/$2")
  tamper_body "$body"
  rgw_curl PUT "/$1/$2" "$body" "${headers[@]}" >/dev/null
}

rgw_download() {  # BUCKET DIR: every object, as DIR/KEY
  local keys key
  keys=$(rgw_list_keys "$1") || return 1
  for key in $keys; do
    rgw_get "$1" "$key" >"$2/$key" || return 1
  done
}

rgw_kms_key_id() {  # BUCKET KEY
  rgw_curl HEAD "/$1/$2" |
    sed -n 's/^x-amz-server-side-encryption-aws-kms-key-id: *\([^\r]*\).*/\1/Ip'
}
