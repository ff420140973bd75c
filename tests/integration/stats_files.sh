#!/bin/bash
# --statsFilename and --metricsFile over a plain HTTP store (nginx), read
# while a workload runs:
#  1. a slow nbdcopy: cache.writes grows in the file while the copy runs
#     (the file is rewritten every --statsInterval, always whole);
#  2. after it: every block uploaded (cache.dirty 0), bytes up over HTTP
#     (object.bytes_written, http.responses_2xx), the compression ratio of
#     half random, half repetitive data;
#     each counter is described in usbd(8);
#  3. the metrics file parses as Prometheus text (prometheus_client's
#     parser), with the same values, counter and gauge types, the volume
#     label;
#  4. a re-read is answered by the cache (cache.hits up, cache.misses not);
#  5. the last write at stop; with --statsInterval=3600, the file changes
#     only on SIGUSR1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
require_tool nbdcopy nbdkit cmp openssl
require_nginx
start_nginx_dav

MIB=$((1024 * 1024))
BLOCKS=128  # 32 MiB of 256 KiB blocks
VOL=disk1/vol1
STATS="$TMP/usbd.stats"
PROM="$TMP/usbd.prom"
H=(--httpStore --baseURL="$NGINX_URL" --compress --blockCacheFile="$TMP/cache"
   --blockCacheSize=256 --statsFilename="$STATS" --metricsFile="$PROM")

stat_of() {  # NAME [FILE]: the value of NAME in the stats file
  awk -v name="$1" '$1 == name { print $2; found = 1 } END { exit !found }' \
    "${2:-$STATS}" || fail "no $1 in ${2:-$STATS}: $(cat "${2:-$STATS}")"
}
# until_stat NAME TEST VALUE SECONDS: until the file's NAME -TEST VALUE.
until_stat() {
  local i
  for ((i = 0; i < $4 * 10; i++)); do
    [ "$(stat_of "$1")" -"$2" "$3" ] && return 0
    sleep 0.1
  done
  fail "$1 is $(stat_of "$1") after $4 s, expected -$2 $3"
}

make_random_file "$TMP/random" $((16 * MIB))
{ cat "$TMP/random"; (yes 'usbd statistics test line' || true) | head -c $((16 * MIB)); } \
  >"$TMP/data"

start_named a "${H[@]}" --statsInterval=1 --size=32M "$VOL"
[ -s "$STATS" ] && [ -s "$PROM" ] || fail "no statistics files once serving"
[ "$(stat_of cache.writes)" -eq 0 ] || fail "cache.writes before any write"
lines=$(wc -l <"$STATS")

# 1. About 8 s of copying (nbdkit's rate filter): sample the file meanwhile.
nbdkit -U - --filter=rate file "$TMP/data" rate=32M \
  --run "nbdcopy --request-size=262144 \"\$uri\" \"$a_URI\"" &
copy=$!
samples=()
while kill -0 "$copy" 2>/dev/null; do
  # Every counter each time (the ratio line comes with the first encode).
  n=$(grep -vc '^codec.compression_ratio ' "$STATS")
  [ "$n" -eq "$lines" ] || fail "a stats file of $n counters, not $lines"
  samples+=("$(stat_of cache.writes)")
  sleep 0.5
done
wait "$copy" || fail "the slow nbdcopy failed"
echo "cache.writes while copying: ${samples[*]}"
during=$(printf '%s\n' "${samples[@]}" |
  awk -v all=$BLOCKS '$1 > 0 && $1 < all' | sort -un | wc -l)
[ "$during" -ge 2 ] ||
  fail "cache.writes did not move while the copy ran: ${samples[*]}"

# 2. Uploaded, bytes up, the compression ratio.
until_stat cache.writes ge $BLOCKS 5
until_stat cache.dirty eq 0 30
until_stat cache.uploads ge $BLOCKS 5
[ "$(stat_of cache.uploads_in_flight)" -eq 0 ] || fail "uploads in flight"
[ "$(stat_of object.puts)" -ge $BLOCKS ] || fail "object.puts below $BLOCKS"
up=$(stat_of object.bytes_written)
[ "$up" -gt $((16 * MIB)) ] && [ "$up" -lt $((24 * MIB)) ] ||
  fail "object.bytes_written $up: not the random half plus a little"
[ "$(stat_of http.responses_2xx)" -ge $BLOCKS ] || fail "too few HTTP 2xx"
[ "$(stat_of http.responses_5xx)" -eq 0 ] || fail "HTTP 5xx from nginx"
awk '$1 == "codec.compression_ratio" { exit !($2 > 0.4 && $2 < 0.6) }' \
  "$STATS" || fail "compression ratio: $(grep ratio "$STATS")"

# Each counter is described in usbd(8), STATISTICS.
man_section=$(sed -n '/^\.SH STATISTICS/,/^\.SH /p' "$top_srcdir/man/usbd.8")
for name in $(awk '{ print $1 }' "$STATS"); do
  grep -qF -- "${name/responses_[234]xx/responses_1xx}" <<<"$man_section" ||
    fail "usbd(8) STATISTICS does not describe $name"
done

# 3. The metrics file, once nothing moves.
sleep 1.5
cp "$STATS" "$TMP/stats.snapshot"
cp "$PROM" "$TMP/prom.snapshot"
grep -qx '# TYPE usbd_cache_hits_total counter' "$TMP/prom.snapshot" ||
  fail "no counter usbd_cache_hits_total"
grep -qx '# TYPE usbd_cache_dirty gauge' "$TMP/prom.snapshot" ||
  fail "usbd_cache_dirty is not a gauge"
grep -q '^# HELP usbd_cache_hits_total .' "$TMP/prom.snapshot" ||
  fail "no help text for usbd_cache_hits_total"
[ "$(awk -v v="usbd_cache_writes_total{volume=\"$VOL\"}" '$1 == v { print $2 }' \
  "$TMP/prom.snapshot")" = "$(stat_of cache.writes "$TMP/stats.snapshot")" ] ||
  fail "usbd_cache_writes_total differs from the stats file's cache.writes"
if /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null; then
  /usr/bin/python3 - "$TMP/prom.snapshot" "$TMP/stats.snapshot" "$VOL" <<'PY' ||
import sys
from prometheus_client.parser import text_string_to_metric_families
prom, stats, volume = sys.argv[1:]
want = {}
for line in open(stats):
    name, value = line.split()
    want["usbd_" + name.replace(".", "_")] = float(value)
seen = 0
for family in text_string_to_metric_families(open(prom).read()):
    for sample in family.samples:
        assert sample.labels == {"volume": volume}, sample
        name = sample.name[:-len("_total")] if family.type == "counter" else sample.name
        assert family.type in ("counter", "gauge"), family
        assert abs(want[name] - sample.value) < 1e-3, (name, want[name], sample)
        seen += 1
assert seen == len(want), (seen, len(want))
PY
    fail "the metrics file does not parse as Prometheus text or disagrees"
else
  echo "NOTE: python3-prometheus-client is not installed: the metrics file" \
    "was not parsed (apt-get install python3-prometheus-client)" >&2
fi

# 4. A re-read comes from the cache.
hits=$(stat_of cache.hits)
misses=$(stat_of cache.misses)
nbdcopy "$a_URI" "$TMP/back" || fail "nbdcopy of the volume failed"
cmp <(head -c $((32 * MIB)) "$TMP/back") "$TMP/data" || fail "data differs"
until_stat cache.hits ge $((hits + BLOCKS)) 5
[ "$(stat_of cache.misses)" -eq "$misses" ] ||
  fail "the re-read missed the cache: $misses -> $(stat_of cache.misses)"

# 5. The last write at stop; then SIGUSR1 alone rewrites the file.
stop_named a
[ "$(stat_of cache.dirty)" -eq 0 ] && [ "$(stat_of cache.hits)" -ge $((hits + BLOCKS)) ] ||
  fail "the file was not written at stop"
start_named b "${H[@]}" --statsInterval=3600 "$VOL"
[ "$(stat_of cache.writes)" -eq 0 ] || fail "a new usbd's file is not new"
head -c 262144 "$TMP/random" >"$TMP/one-block"
nbdcopy "$TMP/one-block" "$b_URI" || fail "nbdcopy of one block failed"
sleep 2
[ "$(stat_of cache.writes)" -eq 0 ] ||
  fail "the file changed without SIGUSR1, interval 3600 s"
kill -USR1 "$b_PID"
until_stat cache.writes eq 1 5
grep -q "usbd\[$b_PID\]: info: stats: cache.hits=" "$TMP/usbd.log" ||
  fail "SIGUSR1 did not log the counters"
stop_named b

echo "PASS: $TEST_NAME"
