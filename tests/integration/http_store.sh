#!/usr/bin/env bash
# Runs tests/http_store_tests against real servers it starts on free
# loopback ports: moto_server (S3; SigV4 verified for real with a key made
# through IAM) and nginx with its dav module (plain HTTP store).
# Exits 77 (SKIP) only when both servers are missing; when one is, its tests
# are skipped with a loud SKIP line and the other's still run.
set -euo pipefail

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
export top_srcdir
BINARY="$top_builddir/tests/http_store_tests"
[ -x "$BINARY" ] || { echo "FAIL: $BINARY not built" >&2; exit 1; }

TMP=$(mktemp -d /tmp/usbd-http-store.XXXXXX)
PIDS=()
cleanup() {
  local status=$? pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ $status -ne 0 ] && [ $status -ne 77 ]; then
    for log in "$TMP"/*.log; do
      [ -f "$log" ] && { echo "--- $log ---" >&2; tail -n 20 "$log" >&2; }
    done
  fi
  rm -rf "$TMP"
  exit $status
}
trap cleanup EXIT

# moto_server and the aws cli live with the machine's pyenv Python 3.11.
find_tool() {  # NAME: prints its path, or nothing
  local dir
  if command -v "$1" >/dev/null 2>&1 && "$1" --version >/dev/null 2>&1; then
    command -v "$1"
    return
  fi
  for dir in "$HOME"/.pyenv/versions/3.11*/bin /root/.pyenv/versions/3.11*/bin \
             /usr/sbin /usr/local/sbin; do
    if [ -x "$dir/$1" ]; then echo "$dir/$1"; return; fi
  done
}

free_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 12000))  # below the kernel's ephemeral range (32768+)
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

wait_for_port() {  # PORT PID NAME
  local i
  for ((i = 0; i < 150; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "FAIL: $3 exited during start" >&2; exit 1; }
    sleep 0.1
  done
  echo "FAIL: $3 did not listen on port $1 within 15 s" >&2
  exit 1
}

MOTO=$(find_tool moto_server)
AWS=""
[ -n "$MOTO" ] && AWS=$(dirname "$MOTO")/aws
[ -x "$AWS" ] || AWS=$(find_tool aws)
NGINX=$(find_tool nginx)
have_moto=no
have_nginx=no
[ -n "$MOTO" ] && [ -n "$AWS" ] && have_moto=yes
[ -n "$NGINX" ] && have_nginx=yes

if [ $have_moto = no ] && [ $have_nginx = no ]; then
  echo "SKIP: http_store needs moto_server (+ aws cli) and nginx; neither is installed" >&2
  exit 77
fi

if [ $have_moto = yes ]; then
  port=$(free_port)
  # The first three unauthenticated calls make a user and key; after that
  # moto verifies every signature, so SigV4 is tested for real.
  INITIAL_NO_AUTH_ACTION_COUNT=3 "$MOTO" -H 127.0.0.1 -p "$port" \
    >"$TMP/moto.log" 2>&1 &
  PIDS+=($!)
  wait_for_port "$port" "$!" moto_server
  endpoint="http://127.0.0.1:$port"
  aws_() {
    "$AWS" --endpoint-url "$endpoint" --region us-east-1 --output text "$@"
  }
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap \
    aws_ iam create-user --user-name usbd-test >/dev/null
  read -r key_id secret < <(AWS_ACCESS_KEY_ID=bootstrap \
    AWS_SECRET_ACCESS_KEY=bootstrap aws_ iam create-access-key \
    --user-name usbd-test --query 'AccessKey.[AccessKeyId,SecretAccessKey]')
  AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap \
    aws_ iam put-user-policy --user-name usbd-test --policy-name all \
    --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
  AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret \
    aws_ s3api create-bucket --bucket usbd-test >/dev/null
  export USBD_S3_ENDPOINT="$endpoint/" USBD_S3_BUCKET=usbd-test \
    USBD_S3_REGION=us-east-1 USBD_S3_ACCESS_KEY_ID=$key_id
  # Through the environment, never on a command line (ps would show it).
  export USBD_S3_SECRET_ACCESS_KEY=$secret
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

if [ $have_nginx = yes ]; then
  port=$(free_port)
  mkdir -p "$TMP/dav" "$TMP/nginx"
  cat >"$TMP/nginx.conf" <<CONF
user root;
worker_processes 2;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    root $TMP/dav;
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
  PIDS+=($!)
  wait_for_port "$port" "$!" nginx
  export USBD_HTTP_BASE_URL="http://127.0.0.1:$port/volume/"
else
  echo "SKIP: plain HTTP tests of http_store: nginx is not installed (apt-get install nginx)" >&2
fi

"$BINARY" "$@"
