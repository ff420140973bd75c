#!/bin/bash
# The real usbd on a plain HTTP store (nginx dav) behind the fault proxy
# (tests/tools/fault_proxy.py) that black-holes requests (mode stall):
#  1. --debug-http alone logs one line per HTTP request.
#  2. --maxRetryPause is the whole time budget of a request: with a
#     --timeout longer than the budget, a read of a block the stalled store
#     holds fails with EIO once the budget is spent, not a --timeout later.
#     (A bound, not a speed: the check allows the budget + 50%.)
#  3. With a cache, during the outage: a partial write to a block that is
#     not cached needs the block from the store, so it fails with EIO once
#     the budget is spent (usbd(8), "Store outages"), while whole-block
#     writes and reads of cached blocks go on meanwhile.
# SKIP (77) only when nginx is missing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_nginx
require_tool python3 timeout curl
require_nbd_py

KIB=1024
BS=$((64 * KIB))
BUDGET_MS=4000
TIMEOUT_S=8  # longer than the budget: the old overshoot shows clearly
start_nginx_dav
start_fault_proxy "http://127.0.0.1:$NGINX_PORT"
H=(--httpStore --baseURL="$PROXY_URL" --timeout=$TIMEOUT_S
  --maxRetryPause=$BUDGET_MS --initialRetryPause=100)
make_random_file "$TMP/data" $((16 * BS)) 7

# --- 1. --debug-http without --debug ------------------------------------------
start_named a "${H[@]}" --size=1M --blockSize=64k --debug-http vol
expect_op ok "$a_URI" write 0 $((16 * BS)) "$TMP/data"
grep -qE "^usbd\[$a_PID\]: [a-z]+: http: PUT http://127.0.0.1:$PROXY_PORT/vol/[0-9a-f]{8} -> 20[0-9]" \
  "$TMP/usbd.log" ||
  fail "--debug-http alone logged no HTTP request: $(tail -n 5 "$TMP/usbd.log")"
! grep -q "^usbd\[$a_PID\]: debug:" "$TMP/usbd.log" ||
  fail "--debug-http alone turned on every debug line"

# --- 2. The budget bounds a black-holed request -------------------------------------
fault_set '{"mode":"stall","methods":"GET","seconds":30,"count":-1}'
t0=$(now_ms)
expect_op EIO "$a_URI" read $((3 * BS)) 4096
elapsed=$(($(now_ms) - t0))
echo "read from a black-holed store: EIO after $elapsed ms (budget $BUDGET_MS ms, --timeout ${TIMEOUT_S} s)"
[ $elapsed -le $((BUDGET_MS * 3 / 2)) ] ||
  fail "a read from a black-holed store took $elapsed ms: more than the --maxRetryPause budget of $BUDGET_MS ms (+50%)"
grep -q "usbd\[$a_PID\]: error: read of block 3 (0x3) (object [^)]*) failed after" "$TMP/usbd.log" ||
  fail "the log does not name block 3 and the budget spent"
fault_clear
stop_named a

# --- 3. Partial writes during an outage, with a cache -----------------------------
start_named c "${H[@]}" --blockCacheSize=32 vol
expect_op ok "$c_URI" read 0 $BS "$TMP/data"  # block 0 is now cached
fault_set '{"mode":"stall","methods":"GET|PUT|DELETE","seconds":30,"count":-1}'
t0=$(now_ms)
nbd_op "$c_URI" write $((5 * BS + 512)) 512 >"$TMP/partial.out" &
partial=$!
sleep 0.5
# Meanwhile: a whole-block write (no read needed) and a cached read.
expect_op ok "$c_URI" write $((7 * BS)) $BS "$TMP/data"
expect_op ok "$c_URI" read 0 $BS "$TMP/data"
others=$(($(now_ms) - t0))
wait $partial
elapsed=$(($(now_ms) - t0))
echo "outage: partial write to an uncached block: $(cat "$TMP/partial.out") after $elapsed ms; other requests done after $others ms"
[ "$(cat "$TMP/partial.out")" = EIO ] ||
  fail "a partial write to an uncached block during an outage: $(cat "$TMP/partial.out"), expected EIO"
[ $elapsed -le $((BUDGET_MS * 3 / 2)) ] ||
  fail "the partial write failed after $elapsed ms: more than the budget of $BUDGET_MS ms (+50%)"
[ $others -lt $elapsed ] ||
  fail "the other requests waited for the partial write ($others ms vs $elapsed ms)"
fault_clear
expect_op ok "$c_URI" write $((5 * BS + 512)) 512 "$TMP/data"
stop_named c

finish_test
