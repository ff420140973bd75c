#!/bin/bash
# The mount token over every store users deploy on (the local directory of
# --test, plain HTTP on nginx dav, S3 on moto_server or radosgw as S3_SERVER
# says: servers.sh, start_s3), with the real usbd:
#  1. A second read-write usbd is refused while the first runs, naming it
#     as a running usbd of this machine (not suggesting a reset).
#  2. kill -9 with flushed blocks still in the cache file: the next start,
#     with the same options, takes its own stale token over by itself (one
#     info line naming the dead holder) and serves every flushed byte.
#  3. A dead holder whose cache file is another one is refused, naming that
#     file (its blocks may not be uploaded yet); the right file is taken.
#  4. A token written on another machine is refused ("on another
#     machine"), with --reset-mounted-flag suggested; after that reset the
#     volume starts.
#  5. A clean stop removes the token.
# S3 and HTTP are skipped, each with a note, only when no S3 server or no
# nginx is installed; the directory store always runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_tool nbdcopy cmp openssl timeout sed

MIB=$((1024 * 1024))
make_random_file "$TMP/in.raw" $((4 * MIB)) 7
CACHE=(--blockCacheSize=64 --blockCacheWriteDelay=600000)

# token_text: the token object's content, for the store under test.
# token_replace SED: rewrites the token object in place.
token_text() {
  case $KIND in
    dir) cat "$STORE_DIR/usbd-mounted" ;;
    http) cat "$STORE_DIR/vol/usbd-mounted" ;;
    s3) s3_get tok usbd-mounted ;;
  esac
}
token_replace() {
  token_text | sed "$1" >"$TMP/token.new"
  case $KIND in
    dir) cp "$TMP/token.new" "$STORE_DIR/usbd-mounted" ;;
    http) cp "$TMP/token.new" "$STORE_DIR/vol/usbd-mounted" ;;
    s3) s3_put "$TMP/token.new" tok usbd-mounted ;;
  esac
}
token_exists() { token_text >/dev/null 2>&1; }

kill9() {  # NAME
  local var="${1}_PID"
  kill -KILL "${!var}"
  wait "${!var}" 2>/dev/null || true
}

check_data() {  # WHAT
  rm -f "$TMP/out.raw"
  nbdcopy "$a_URI" "$TMP/out.raw" || fail "$KIND: nbdcopy $1 failed"
  cmp -n $((4 * MIB)) "$TMP/in.raw" "$TMP/out.raw" ||
    fail "$KIND: data differs $1"
}

scenario() {  # KIND ARGS... (the store's options and volume)
  KIND=$1
  shift
  local args=("$@") host old
  host=$(uname -n)
  echo "--- $KIND" >&2

  start_named a "${args[@]}" --size=16M --blockSize=64k \
    --blockCacheFile="$TMP/$KIND-1.cache" "${CACHE[@]}"
  nbdcopy --flush "$TMP/in.raw" "$a_URI" || fail "$KIND: nbdcopy in failed"
  token_exists || fail "$KIND: no mount token while serving"

  # 1. A second writer while the first runs.
  refused "$TMP/$KIND-second.out" "${args[@]}" \
    --blockCacheFile="$TMP/$KIND-1.cache" "${CACHE[@]}"
  grep -q "host $host pid $a_PID since .*running on this machine" \
    "$TMP/$KIND-second.out" ||
    fail "$KIND: second usbd not refused as a running one: $(cat "$TMP/$KIND-second.out")"
  ! grep -q -- "--reset-mounted-flag" "$TMP/$KIND-second.out" ||
    fail "$KIND: refusal of a running holder suggests --reset-mounted-flag"
  kill -0 "$a_PID" 2>/dev/null || fail "$KIND: the first usbd died"

  # 2. kill -9 with the data only in the cache file (write delay 10 min).
  old=$a_PID
  kill9 a
  token_exists || fail "$KIND: kill -9 removed the token?"
  start_named a "${args[@]}" --blockCacheFile="$TMP/$KIND-1.cache" \
    "${CACHE[@]}"
  grep -q "usbd\[$a_PID\]: info: volume .*taking over the mount token of host $host pid $old since .*no longer running with the same cache file $TMP/$KIND-1.cache" \
    "$TMP/usbd.log" ||
    fail "$KIND: no info line about taking over pid $old's token: $(grep "usbd\[$a_PID\]" "$TMP/usbd.log" | head -5)"
  check_data "after kill -9 and a restart"

  # 3. Dead holder, another cache file.
  old=$a_PID
  kill9 a
  refused "$TMP/$KIND-cache.out" "${args[@]}" \
    --blockCacheFile="$TMP/$KIND-2.cache" "${CACHE[@]}"
  grep -q "pid $old .*no longer running but used the cache file $TMP/$KIND-1.cache" \
    "$TMP/$KIND-cache.out" ||
    fail "$KIND: a dead holder with another cache file: $(cat "$TMP/$KIND-cache.out")"
  start_named a "${args[@]}" --blockCacheFile="$TMP/$KIND-1.cache" \
    "${CACHE[@]}"
  check_data "after a refused start with another cache file"

  # 4. Another machine's token.
  kill9 a
  # (Its checksum line goes too: a token without one is still read, as an
  # older usbd writes it; a token edited under its checksum is refused as
  # corrupt, which is integrity.sh's business.)
  token_replace 's/^machine=.*/machine=0123456789abcdef0123456789abcdef/;/^checksum=/d'
  refused "$TMP/$KIND-machine.out" "${args[@]}" \
    --blockCacheFile="$TMP/$KIND-1.cache" "${CACHE[@]}"
  grep -q "on another machine.*--reset-mounted-flag" "$TMP/$KIND-machine.out" ||
    fail "$KIND: another machine's token: $(cat "$TMP/$KIND-machine.out")"
  "$USBD" --reset-mounted-flag "${args[@]}" >>"$TMP/usbd.log" 2>&1 ||
    fail "$KIND: --reset-mounted-flag failed"
  token_exists && fail "$KIND: --reset-mounted-flag left the token"
  start_named a "${args[@]}" --blockCacheFile="$TMP/$KIND-1.cache" \
    "${CACHE[@]}"
  check_data "after --reset-mounted-flag"

  # 5. A clean stop uploads everything and removes the token.
  stop_named a
  token_exists && fail "$KIND: a clean stop left the token"
  rm -f "$TMP/$KIND-1.cache"*
  start_named a "${args[@]}"
  check_data "from the store alone (no cache file)"
  stop_named a
}

STORE_DIR="$TMP/dirstore"
scenario dir --test "$STORE_DIR"

if [ -n "$(find_tool nginx)" ]; then
  require_nginx
  start_nginx_dav
  STORE_DIR=$NGINX_ROOT
  scenario http --httpStore --baseURL="$NGINX_URL" vol
else
  echo "note: nginx not found: the HTTP store was skipped" >&2
fi

if have_s3; then
  start_s3
  s3_create_bucket tok
  scenario s3 "${S3_ARGS[@]}" tok
else
  echo "note: no S3 server (moto_server and the aws cli, or radosgw) found: S3 was skipped" >&2
fi
finish_test
