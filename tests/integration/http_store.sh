#!/usr/bin/env bash
# Runs tests/http_store_tests against real servers it starts on free
# loopback ports (tests/integration/servers.sh): an S3 server, moto_server
# (SigV4 verified for real with a key made through IAM) or radosgw as
# S3_SERVER says (S3_STYLE=vhost: virtual-host addressing), and nginx with
# its dav module (plain HTTP store). Its arguments go to the test binary
# (--gtest_filter=...).
# Exits 77 (SKIP) only when both servers are missing; when one is, its tests
# are skipped with a loud SKIP line and the other's still run.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
BINARY="$top_builddir/tests/http_store_tests"
[ -x "$BINARY" ] || fail "$BINARY not built"

with_s3=no
with_nginx=no
have_s3 && with_s3=yes
have_nginx && with_nginx=yes
if [ $with_s3 = no ] && [ $with_nginx = no ]; then
  echo "SKIP: http_store needs an S3 server (moto_server and the aws cli, or radosgw) and nginx; neither is installed" >&2
  exit 77
fi

if [ $with_s3 = yes ]; then
  start_s3
  s3_create_bucket usbd-test
  export USBD_S3_ENDPOINT="$S3_ENDPOINT/" USBD_S3_BUCKET=usbd-test \
    USBD_S3_REGION=us-east-1 USBD_S3_ACCESS_KEY_ID=$S3_KEY_ID
  if [ "$S3_STYLE" = vhost ]; then
    export USBD_S3_ENDPOINT="http://localhost:$S3_PORT/" USBD_S3_VHOST=1
  fi
  # Through the environment, never on a command line (ps would show it).
  export USBD_S3_SECRET_ACCESS_KEY=$S3_SECRET
  # radosgw takes keys that need percent-encoding; moto refuses them.
  [ "$S3_SERVER" != rgw ] || export USBD_S3_ENCODED_KEYS=1
  # botocore (beside moto and the aws cli, or Debian's python3-botocore)
  # cross-checks the SigV4 signer.
  USBD_PYTHON=
  have_moto || true  # sets MOTO, whatever the S3 server
  for python in ${MOTO:+"$(dirname "$MOTO")/python3"} /usr/bin/python3; do
    if [ -x "$python" ] && "$python" -c 'import botocore' 2>/dev/null; then
      export USBD_PYTHON=$python
      break
    fi
  done
  [ -n "$USBD_PYTHON" ] ||
    echo "SKIP: botocore cross-check of SigV4: no python3 with botocore (apt-get install python3-botocore)" >&2
else
  echo "SKIP: S3 tests of http_store: no S3 server is installed (apt-get install --no-install-recommends ceph-mon ceph-osd radosgw, or pip install 'moto[server]' awscli)" >&2
fi

if [ $with_nginx = yes ]; then
  start_nginx_dav
  export USBD_HTTP_BASE_URL="${NGINX_URL}volume/"
else
  echo "SKIP: plain HTTP tests of http_store: nginx is not installed (apt-get install nginx)" >&2
fi

"$BINARY" "$@"
