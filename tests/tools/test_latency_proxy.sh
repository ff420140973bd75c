#!/bin/bash
# tests/tools/latency_proxy in front of nginx dav: bytes pass unchanged both
# ways (a 32 MiB PUT and GET, cmp), every request's first byte comes at
# least the delay after it left, and the link is not stop-and-wait: a 32
# MiB GET at 80 ms moves far more than one 256 KiB chunk per round trip.
# (Lower bounds on what the proxy adds; nothing here times usbd.)
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../integration/servers.sh"
require_tool curl
require_nginx
start_nginx_dav

make_random_file "$TMP/data" $((32 * 1024 * 1024)) 5
start_latency_proxy "127.0.0.1:$NGINX_PORT" 80
url="http://127.0.0.1:$LATENCY_PORT/proxy-test/object"
curl -sf -T "$TMP/data" "$url" || fail "PUT through the proxy failed"
cmp "$TMP/data" "$NGINX_ROOT/proxy-test/object" ||
  fail "the object PUT through the proxy differs"
stats=$(curl -sf -o "$TMP/back" -w '%{time_starttransfer} %{speed_download}' "$url") ||
  fail "GET through the proxy failed"
cmp "$TMP/data" "$TMP/back" || fail "the object read through the proxy differs"
read -r first speed <<<"$stats"
echo "first byte after ${first}s, $speed bytes/s at 80 ms"
# Connection setup (one round trip) and the request (one more): >= 160 ms.
awk -v t="$first" 'BEGIN { exit !(t >= 0.16) }' ||
  fail "first byte after $first s: the proxy did not hold it 2 x 80 ms"
# Stop-and-wait would be 256 KiB per 80 ms (3.2 MB/s).
awk -v s="$speed" 'BEGIN { exit !(s > 4 * 262144 / 0.08) }' ||
  fail "$speed bytes/s: the proxy passes one chunk per round trip"
# Without the proxy the same GET starts at once: the delay is the proxy's.
direct=$(curl -sf -o /dev/null -w '%{time_starttransfer}' "http://127.0.0.1:$NGINX_PORT/proxy-test/object")
awk -v t="$direct" 'BEGIN { exit !(t < 0.16) }' ||
  echo "NOTE: nginx itself took $direct s to answer (loaded machine?)" >&2
echo "PASS: $TEST_NAME"
