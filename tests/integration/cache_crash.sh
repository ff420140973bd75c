#!/bin/bash
# The block cache's crash test (the workload, the model and the checks are
# in cache_crash.py): a client writes sequence-stamped sectors over NBD,
# flushing now and then, while usbd is killed with SIGKILL at random moments
# (at least 30 times per store) and restarted over the same cache; after
# each restart every acknowledged write must be there (usbd's write log:
# a kill -9 is not a power cut), and nothing never written may appear; every sixth restart, and at the end, the store alone (an
# empty cache) must read what the cache did.
#
# Stores: the local directory store, and S3 on moto_server or radosgw as
# S3_SERVER says (skipped, with a note, when neither is installed).
#
# The server command is usbd's, or $USBD_CACHE_CMD (a template, see
# cache_crash.py) to run the same test against another server.
source "$(dirname "$0")/lib.sh"

PYTHON_NBD=
for py in /usr/bin/python3 python3; do
  if "$py" -c 'import nbd' 2>/dev/null; then
    PYTHON_NBD=$py
    break
  fi
done
[ -n "$PYTHON_NBD" ] || {
  echo "SKIP: $TEST_NAME needs python3 with libnbd's nbd module (python3-libnbd)" >&2
  exit 77
}
CRASH="$PYTHON_NBD $(dirname "$0")/cache_crash.py"
CACHE_ARGS="--blockSize=65536 --blockCacheFile={cache} --blockCacheSize=128 --blockCacheWriteDelay=100 --blockCacheThreads=8"

usbd_help=$("$USBD" --help 2>&1 || true)
[[ $usbd_help == *--blockCacheFile* ]] || fail "usbd --help lists no --blockCacheFile"
DIR_CMD=${USBD_CACHE_CMD:-"$USBD -f --listen=unix:{sock} --test --size={size} $CACHE_ARGS {store}"}
# Another server is held to flushed writes only.
ACKED=--acked
[ -z "${USBD_CACHE_CMD:-}" ] || ACKED=

echo "--- local directory store" >&2
$CRASH $ACKED --work "$TMP/dir" --rounds 30 --budget 80 --cmd "$DIR_CMD" ||
  fail "over the local directory store (server log: $TMP/dir/server.log)"

if [ -z "${USBD_CACHE_CMD:-}" ]; then
  source "$(dirname "$0")/servers.sh"
  if have_s3; then
    start_s3
    s3_create_bucket crash
    # No --force: a killed usbd leaves its mount token behind, as after a
    # power cut, and the restart takes it over by itself.
    S3_CMD="$USBD -f --listen=unix:{sock} ${S3_ARGS[*]} --size={size} \
$CACHE_ARGS crash"
    echo "--- S3 on $S3_SERVER" >&2
    $CRASH $ACKED --work "$TMP/s3" --rounds 30 --budget 90 --run-max 1.0 \
      --size $((16 << 20)) --cmd "$S3_CMD" ||
      fail "over S3 on $S3_SERVER (server log: $TMP/s3/server.log)"
  else
    echo "note: no S3 server (moto_server and the aws cli, or radosgw) found: the S3 run was skipped" >&2
  fi
fi
echo "PASS: $TEST_NAME"
