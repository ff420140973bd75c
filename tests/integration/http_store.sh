#!/usr/bin/env bash
# Runs tests/http_store_tests against real servers it starts on free
# loopback ports (tests/integration/servers.sh): moto_server (S3; SigV4
# verified for real with a key made through IAM) and nginx with its dav
# module (plain HTTP store).
# Exits 77 (SKIP) only when both servers are missing; when one is, its tests
# are skipped with a loud SKIP line and the other's still run.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
BINARY="$top_builddir/tests/http_store_tests"
[ -x "$BINARY" ] || fail "$BINARY not built"

with_moto=no
with_nginx=no
have_moto && with_moto=yes
have_nginx && with_nginx=yes
if [ $with_moto = no ] && [ $with_nginx = no ]; then
  echo "SKIP: http_store needs moto_server (+ aws cli) and nginx; neither is installed" >&2
  exit 77
fi

if [ $with_moto = yes ]; then
  start_moto
  moto_create_bucket usbd-test
  export USBD_S3_ENDPOINT="$MOTO_ENDPOINT/" USBD_S3_BUCKET=usbd-test \
    USBD_S3_REGION=us-east-1 USBD_S3_ACCESS_KEY_ID=$MOTO_KEY_ID
  # Through the environment, never on a command line (ps would show it).
  export USBD_S3_SECRET_ACCESS_KEY=$MOTO_SECRET
  # botocore (with moto and the aws cli) cross-checks the SigV4 signer.
  python="$(dirname "$MOTO")/python3"
  if [ -x "$python" ] && "$python" -c 'import botocore' 2>/dev/null; then
    export USBD_PYTHON="$python"
  else
    echo "SKIP: botocore cross-check of SigV4: no python3 with botocore beside moto_server" >&2
  fi
else
  echo "SKIP: S3 tests of http_store: moto_server or the aws cli is not installed (pip install 'moto[server]' awscli)" >&2
fi

if [ $with_nginx = yes ]; then
  start_nginx_dav
  export USBD_HTTP_BASE_URL="${NGINX_URL}volume/"
else
  echo "SKIP: plain HTTP tests of http_store: nginx is not installed (apt-get install nginx)" >&2
fi

"$BINARY" "$@"
