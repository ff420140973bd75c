#!/bin/sh
# Checks tests/tools/fault_proxy.py against two real upstreams on free
# loopback ports: python3 -m http.server (files, HTTP/1.0, closes after each
# response) and a small echo server (HTTP/1.1 keep-alive) that answers with
# what it received, so forwarding can be checked byte for byte. Every fault
# mode is driven with curl and its effect checked from both ends.
# Exit status: 0 all passed, 1 something failed, 77 skipped.

here=$(cd "$(dirname "$0")" && pwd)
proxy_py="$here/fault_proxy.py"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: no python3"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: no curl"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fault_proxy_test.XXXXXX")
pids=""
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null; done
  for pid in $pids; do wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failures=0
checks=0
pass() { checks=$((checks + 1)); echo "ok   $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1"; }
# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
  name=$1; shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "     expected [$2], got [$1]" >&2; return 1; }; }

wait_for() {  # wait_for FILE PATTERN: until FILE has a line matching PATTERN
  i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "timed out waiting for $1" >&2; cat "$1" >&2; exit 1; }
    sleep 0.1
  done
}

# --- upstreams ---------------------------------------------------------------
mkdir "$work/files"
head -c 102400 /dev/urandom >"$work/files/blob"
python3 -u -m http.server --bind 127.0.0.1 --directory "$work/files" 0 \
  >"$work/files.log" 2>&1 &
files_pid=$!
pids="$pids $files_pid"
wait_for "$work/files.log" "port [0-9]"
files_port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$work/files.log" | head -1)

cat >"$work/echo.py" <<'EOF'
import hashlib, http.server, json, sys, threading
count = 0
lock = threading.Lock()
class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes
    def log_message(self, *args): pass
    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))
    def answer(self):
        global count
        data = self.body()
        with lock:
            count += 1
            n = count
        if self.path == "/count":
            n -= 1  # asking does not count
            with lock:
                count = n
        out = json.dumps({
            "n": n, "method": self.command, "target": self.path,
            "headers": list(self.headers.items()),
            "sha256": hashlib.sha256(data).hexdigest(), "length": len(data),
            "peer_port": self.client_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = answer
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print("port", server.server_address[1], flush=True)
server.serve_forever()
EOF
python3 -u "$work/echo.py" >"$work/echo.log" 2>&1 &
pids="$pids $!"
wait_for "$work/echo.log" "^port [0-9]"
echo_port=$(sed -n 's/^port \([0-9]*\)/\1/p' "$work/echo.log")

start_proxy() {  # start_proxy NAME UPSTREAM_PORT [ARGS...]: sets $port
  name=$1 up=$2; shift 2
  python3 -u "$proxy_py" --upstream "http://127.0.0.1:$up" --seed 7 \
    --port-file "$work/$name.port" "$@" >"$work/$name.log" 2>&1 &
  pids="$pids $!"
  i=0
  while [ ! -s "$work/$name.port" ]; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "proxy $name did not start" >&2; cat "$work/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  port=$(cat "$work/$name.port")
}
start_proxy files "$files_port"; fp=$port      # in front of http.server
start_proxy echo "$echo_port"; ep=$port        # in front of the echo server

F="http://127.0.0.1:$fp"
E="http://127.0.0.1:$ep"
ctl() {  # ctl PROXY_URL METHOD [JSON]: talks to the control endpoint
  if [ -n "${3:-}" ]; then
    curl -s -X "$2" -H 'Content-Type: application/json' --data-binary "$3" "$1/__fault__"
  else
    curl -s -X "$2" "$1/__fault__"
  fi
}
json() {  # json EXPRESSION < JSON: evaluates a python expression on `d`
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
upstream_count() { curl -s "http://127.0.0.1:$echo_port/count" | json 'd["n"]'; }

# --- forwarding ------------------------------------------------------------------
curl -s -o "$work/got" "$F/blob"
check "GET through the proxy is byte-exact" cmp -s "$work/got" "$work/files/blob"

len=$(curl -s -I "$F/blob" | tr -d '\r' | sed -n 's/^[Cc]ontent-[Ll]ength: //p')
check "HEAD keeps the store's Content-Length" eq "$len" 102400

curl -s -o "$work/a" -o "$work/b" -o "$work/c" "$F/blob" "$F/blob" "$F/blob"
check "repeated GETs over a store that closes each connection" \
  sh -c "cmp -s '$work/a' '$work/files/blob' && cmp -s '$work/b' '$work/files/blob' && cmp -s '$work/c' '$work/files/blob'"

check "a 404 from the store passes through" eq "$(code "$F/missing")" 404

head -c 65536 /dev/urandom >"$work/body"
sum=$(sha256sum "$work/body" | cut -d' ' -f1)
auth='AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=abc123'
curl -s -X PUT --data-binary "@$work/body" \
  -H 'Host: bucket.s3.example:9000' -H "X-Amz-Date: 20240101T000000Z" \
  -H "x-amz-content-sha256: $sum" -H "Authorization: $auth" \
  -H 'Content-Type: application/octet-stream' \
  "$E/bucket/a%2Fb+c?x-id=PutObject&z=%20" >"$work/echo.json"
check "method and request target are forwarded verbatim" \
  eq "$(json 'd["method"] + " " + d["target"]' <"$work/echo.json")" \
  "PUT /bucket/a%2Fb+c?x-id=PutObject&z=%20"
check "Host header is preserved" \
  eq "$(json '[v for k, v in d["headers"] if k == "Host"]' <"$work/echo.json")" \
  "['bucket.s3.example:9000']"
check "Authorization header is preserved" \
  eq "$(json '[v for k, v in d["headers"] if k == "Authorization"][0]' <"$work/echo.json")" "$auth"
check "header names, case and order are preserved" \
  eq "$(json '[k for k, v in d["headers"] if k.lower().startswith(("x-amz", "authorization", "content-type"))]' <"$work/echo.json")" \
  "['X-Amz-Date', 'x-amz-content-sha256', 'Authorization', 'Content-Type']"
check "request body arrives intact" \
  eq "$(json 'd["sha256"]' <"$work/echo.json")" "$sum"

curl -s -T - "$E/chunked" <"$work/body" >"$work/echo.json"
check "a chunked request body arrives intact" \
  eq "$(json 'd["sha256"], d["length"]' <"$work/echo.json")" "('$sum', 65536)"

head -c 2097152 /dev/urandom >"$work/big"
curl -s -X PUT -H 'Expect: 100-continue' --data-binary "@$work/big" "$E/big" \
  >"$work/echo.json"
check "a 2 MiB PUT with Expect: 100-continue arrives intact" \
  eq "$(json 'd["sha256"]' <"$work/echo.json")" \
  "$(sha256sum "$work/big" | cut -d' ' -f1)"

curl -sv -o "$work/k1" -o "$work/k2" "$E/one" "$E/two" 2>"$work/curl.err"
check "client keep-alive: curl reuses its connection to the proxy" \
  grep -qi 're-using existing connection' "$work/curl.err"
check "upstream keep-alive: the proxy reuses its connection to the store" \
  eq "$(json 'd["peer_port"]' <"$work/k1")" "$(json 'd["peer_port"]' <"$work/k2")"

i=0; : >"$work/par"; readers=""
while [ $i -lt 16 ]; do
  (curl -s "$F/blob" | cmp -s - "$work/files/blob" && echo same >>"$work/par") &
  readers="$readers $!"
  i=$((i + 1))
done
for r in $readers; do wait "$r"; done
check "16 concurrent GETs are all byte-exact" eq "$(wc -l <"$work/par" | tr -d ' ')" 16

# --- status faults -------------------------------------------------------------
ctl "$E" PUT '{"mode":"status","status":503,"count":2,"methods":["GET"],"path":"^/obj"}' >/dev/null
before=$(upstream_count)
curl -s -o "$work/r1" -w '%{http_code}\n' "$E/obj" >"$work/codes"
curl -s -o /dev/null -w '%{http_code}\n' "$E/obj" >>"$work/codes"
curl -s -o /dev/null -w '%{http_code}\n' "$E/obj" >>"$work/codes"
check "503 count=2: two SlowDowns, then the store answers" \
  eq "$(tr '\n' ' ' <"$work/codes")" "503 503 200 "
check "503 body is an S3 error with Code SlowDown" grep -q '<Code>SlowDown</Code>' "$work/r1"
check "faulted requests never reached the store" eq "$(upstream_count)" "$((before + 1))"
check "control endpoint reports fired and remaining" \
  eq "$(ctl "$E" GET | json '(d["rules"][0]["fired"], d["rules"][0]["remaining"], d["stats"]["faults"]["status"])')" \
  "(2, 0, 2)"

ctl "$E" PUT '{"mode":"500","count":-1,"methods":"PUT","path":"^/blk/"}' >/dev/null
check "method filter: GET on a matching path is not faulted" eq "$(code "$E/blk/1")" 200
check "path filter: PUT elsewhere is not faulted" eq "$(code -X PUT -d x "$E/other")" 200
curl -s -o "$work/r500" -w '%{http_code}' -X PUT -d x "$E/blk/1" >"$work/c500"
check "PUT on the matching path gets 500 InternalError" \
  sh -c "[ \"\$(cat '$work/c500')\" = 500 ] && grep -q '<Code>InternalError</Code>' '$work/r500'"
check "count=-1 keeps firing" eq "$(code -X PUT -d x "$E/blk/2")" 500

ctl "$E" PUT '{"mode":"status","status":429,"retry_after":3}' >/dev/null
curl -s -D "$work/h429" -o "$work/r429" "$E/x"
check "429 carries Retry-After and Code TooManyRequests" \
  sh -c "grep -q '^HTTP/1.1 429' '$work/h429' && grep -qi '^Retry-After: 3' '$work/h429' && grep -q TooManyRequests '$work/r429'"
check "a status fault keeps the client connection alive" \
  sh -c "! grep -qi '^connection: close' '$work/h429'"

ctl "$E" PUT '{"mode":"status","status":503,"when":"after","methods":"PUT"}' >/dev/null
before=$(upstream_count)
check "when=after: the client sees 503" eq "$(code -X PUT -d x "$E/after")" 503
check "when=after: the store did handle the request" eq "$(upstream_count)" "$((before + 1))"

ctl "$E" PUT '{"mode":"status","skip":2,"count":1}' >/dev/null
for i in 1 2 3 4; do code "$E/skip"; echo; done >"$work/codes"
check "skip=2 count=1 faults exactly the third request" \
  eq "$(tr '\n' ' ' <"$work/codes")" "200 200 503 200 "

ctl "$E" PUT '{"mode":"status","rate":0.3,"path":"^/rate"}' >/dev/null
n=0; : >"$work/urls"
while [ $n -lt 200 ]; do
  printf 'url = "%s"\noutput = "/dev/null"\n' "$E/rate/$n" >>"$work/urls"
  n=$((n + 1))
done
curl -s -K "$work/urls" -w '%{http_code}\n' >"$work/codes"
got=$(grep -c 503 "$work/codes")
check "rate=0.3 over 200 requests fires about 60 times ($got)" \
  sh -c "[ $got -ge 35 ] && [ $got -le 85 ] && [ \$(grep -c 200 '$work/codes') -eq $((200 - got)) ]"
check "control endpoint counted the same number" \
  eq "$(ctl "$E" GET | json 'd["rules"][0]["fired"]')" "$got"

# --- connection faults ---------------------------------------------------------
ctl "$E" PUT '{"mode":"reset","methods":"GET"}' >/dev/null
curl -s -o /dev/null "$E/reset" 2>/dev/null; rc=$?
check "reset: curl sees a connection reset (exit 56)" eq "$rc" 56
check "reset: the next request is served" eq "$(code "$E/reset")" 200

ctl "$E" PUT '{"mode":"drop"}' >/dev/null
curl -s -o /dev/null "$E/drop" 2>/dev/null; rc=$?
check "drop: curl sees an empty reply (exit 52)" eq "$rc" 52

ctl "$E" PUT '{"mode":"stall","seconds":3,"methods":"PUT","path":"^/stall"}' >/dev/null
before=$(upstream_count)
t0=$(date +%s)
curl -s -o /dev/null --max-time 1 -X PUT -d x "$E/stall" 2>/dev/null; rc=$?
check "stall: the client times out (exit 28)" eq "$rc" 28
t1=$(date +%s)
check "stall: other requests are served meanwhile" eq "$(code --max-time 1 "$E/meanwhile")" 200
sleep $((3 - (t1 - t0) + 1))
check "stall: the abandoned request is not forwarded late" \
  eq "$(upstream_count)" "$((before + 1))"

ctl "$F" PUT '{"mode":"stall","seconds":0.6}' >/dev/null
t=$(curl -s -o "$work/got" -w '%{time_total}' "$F/blob")
check "short stall delays a GET ($t s) and it still completes intact" \
  sh -c "cmp -s '$work/got' '$work/files/blob' && python3 -c 'import sys; sys.exit(not float(sys.argv[1]) >= 0.6)' $t"

ctl "$F" PUT '{"mode":"truncate","keep":1000}' >/dev/null
curl -s -D "$work/ht" -o "$work/got" "$F/blob" 2>/dev/null; rc=$?
check "truncate: curl sees a partial body (exit 18)" eq "$rc" 18
check "truncate: Content-Length announced the whole object" \
  grep -qi '^content-length: 102400' "$work/ht"
check "truncate: exactly 1000 bytes were sent" eq "$(wc -c <"$work/got" | tr -d ' ')" 1000
check "truncate: the bytes sent are the object's" \
  cmp -s "$work/got" "$work/files/blob" -n 1000

ctl "$F" PUT '{"mode":"truncate"}' >/dev/null
curl -s -o "$work/got" "$F/blob" 2>/dev/null
check "truncate: by default half the body is sent" eq "$(wc -c <"$work/got" | tr -d ' ')" 51200
check "after the rules are used up, GET is whole again" \
  sh -c "curl -s '$F/blob' | cmp -s - '$work/files/blob'"

ctl "$F" PUT '{"mode":"flip","offset":100,"xor":"0x01","count":1}' >/dev/null
curl -s -o "$work/got" "$F/blob"; rc=$?
check "flip: the GET completes (curl exit 0)" eq "$rc" 0
check "flip: the body has its full length" eq "$(wc -c <"$work/got" | tr -d ' ')" 102400
check "flip: exactly one byte differs, the one at offset 100" \
  eq "$(cmp -l "$work/got" "$work/files/blob" | awk '{print $1 - 1}' | tr '\n' ' ')" "100 "
check "flip: it fired once" eq "$(ctl "$F" GET | json 'd["stats"]["faults"]["flip"]')" 1
check "flip: used up, GET is whole again" \
  sh -c "curl -s '$F/blob' | cmp -s - '$work/files/blob'"
ctl "$F" PUT '{"mode":"flip","count":-1}' >/dev/null
curl -s -o "$work/got" "$F/absent"
check "flip: a 404 is not changed and does not count" \
  eq "$(ctl "$F" GET | json 'd["rules"][0]["fired"]')" 0
curl -s -o "$work/got" "$F/blob"
check "flip: a random byte of a 2xx body (1 byte differs)" \
  eq "$(cmp -l "$work/got" "$work/files/blob" | wc -l | tr -d ' ')" 1
check "flip: needs when=after" \
  eq "$(code -X POST -d '{"mode":"flip","when":"before"}' "$F/__fault__")" 400
ctl "$F" DELETE >/dev/null

head -c 65536 /dev/urandom >"$work/upload"
python3 -c '
import hashlib, sys
data = bytearray(open(sys.argv[1], "rb").read())
data[10] ^= 0x01
print(hashlib.sha256(data).hexdigest())' "$work/upload" >"$work/upload.sum"
ctl "$E" PUT '{"mode":"corrupt","offset":10,"xor":"0x01","count":1}' >/dev/null
curl -s -o "$work/echo.json" -X PUT --data-binary @"$work/upload" "$E/up"
check "corrupt: the store gets the body with byte 10 changed" \
  eq "$(json 'd["sha256"], d["length"]' <"$work/echo.json")" \
  "('$(cat "$work/upload.sum")', 65536)"
check "corrupt: it fired once" eq "$(ctl "$E" GET | json 'd["stats"]["faults"]["corrupt"]')" 1
curl -s -o "$work/echo.json" -X PUT --data-binary @"$work/upload" "$E/up"
check "corrupt: used up, the next PUT is whole" \
  eq "$(json 'd["sha256"]' <"$work/echo.json")" \
  "$(sha256sum "$work/upload" | cut -d' ' -f1)"
ctl "$E" PUT '{"mode":"corrupt","count":-1}' >/dev/null
curl -s -o /dev/null "$E/nobody"
check "corrupt: a request without a body does not count" \
  eq "$(ctl "$E" GET | json 'd["rules"][0]["fired"]')" 0
check "corrupt: needs when=before" \
  eq "$(code -X POST -d '{"mode":"corrupt","when":"after"}' "$E/__fault__")" 400
ctl "$E" DELETE >/dev/null

# --- control endpoint and command line ---------------------------------------
check "control: invalid JSON is a 400" eq "$(code -X POST -d '{nope' "$E/__fault__")" 400
check "control: an unknown field is a 400" eq "$(code -X POST -d '{"mode":"reset","bogus":1}' "$E/__fault__")" 400
check "control: an unknown mode is a 400" eq "$(code -X POST -d '{"mode":"explode"}' "$E/__fault__")" 400
ctl "$E" DELETE >/dev/null
ctl "$E" POST '[{"mode":"reset","path":"^/a"},{"mode":"drop","path":"^/b"}]' >/dev/null
check "control: POST appends, DELETE clears" \
  eq "$(ctl "$E" GET | json 'len(d["rules"])')" 2
ctl "$E" DELETE >/dev/null
check "control: no rules after DELETE" eq "$(ctl "$E" GET | json 'len(d["rules"])')" 0

start_proxy cli "$echo_port" --fault 'mode=500,count=1,methods=GET' \
  --fault '{"mode": "reset", "path": "^/x", "count": 1}'
C="http://127.0.0.1:$port"
check "--fault key=value: first GET gets 500" eq "$(code "$C/y")" 500
check "--fault key=value: then the store answers" eq "$(code "$C/y")" 200
curl -s -o /dev/null "$C/x" 2>/dev/null; rc=$?
check "--fault JSON: reset on the matching path" eq "$rc" 56

python3 "$proxy_py" --upstream "http://127.0.0.1:$echo_port" \
  --fault 'mode=explode' >/dev/null 2>&1 &
bad=$!
wait $bad; rc=$?
check "a bad --fault is refused at startup" test "$rc" -ne 0

# --- the store gone --------------------------------------------------------------
kill "$files_pid"; wait "$files_pid" 2>/dev/null
check "store gone: the proxy answers 502" eq "$(code --max-time 5 "$F/blob")" 502

echo "$((checks - failures))/$checks checks passed"
[ "$failures" -eq 0 ]
