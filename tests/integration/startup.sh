#!/bin/bash
# Start-up of the real usbd: every error is known before the store is
# touched, and given as one line "usbd[PID]: error: ..." with exit status 1.
#  1. "--name=" is an empty value, never the next argument; "--flag=" is
#     refused.
#  2. --configFile=DIRECTORY is refused.
#  3. A bad --blockCacheFile, --listen directory or busy TCP port fails the
#     start before the volume is created; the corrected run needs no --force.
#  4. Warnings: --listen on every interface, secret files others may read,
#     secrets on the command line.
#  5. (mounts: needs root) A read-only --test directory is refused without
#     --readOnly and served with it; a cache file larger than the free space
#     of its file system is refused at start.
# No server needed but nbdinfo/nbdcopy; part 5 mounts tmpfs file systems.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_tool nbdinfo nbdcopy cmp timeout python3

# start_fails PATTERN ARGS...: usbd exits 1 at start without listening, and
# its first error line matches the extended regex PATTERN.
start_fails() {
  local pattern=$1 status=0
  shift
  rm -f "$TMP/fail.sock"
  timeout 20 "$USBD" -f --listen="unix:$TMP/fail.sock" "$@" >"$TMP/fail.log" 2>&1 ||
    status=$?
  cat "$TMP/fail.log" >>"$TMP/usbd.log"
  [ $status -ne 124 ] || fail "usbd $* did not fail: still running after 20 s"
  [ $status -eq 1 ] ||
    fail "usbd $* exited $status, expected 1: $(cat "$TMP/fail.log")"
  [ ! -e "$TMP/fail.sock" ] || fail "usbd $* listened before failing"
  grep -m1 -E "^usbd\[[0-9]+\]: error: " "$TMP/fail.log" | grep -qE -e "$pattern" ||
    fail "usbd $*: expected an error line /$pattern/, got: $(cat "$TMP/fail.log")"
}
# untouched DIR WHAT: the --test store directory DIR holds nothing.
untouched() {
  [ ! -e "$1" ] || [ -z "$(ls -A "$1")" ] ||
    fail "$2 touched the store: $1 holds $(ls -A "$1" | tr '\n' ' ')"
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- 1. Empty values ----------------------------------------------------------
# CLI11 took the next argument as the value: "--prefix= --readOnly" created
# a read-write volume whose metadata object was "--readOnlyusbd-volume".
mkdir "$TMP/v1"
start_fails "a --readOnly run never creates a volume" \
  --test --size=1M --prefix= --readOnly "$TMP/v1"
untouched "$TMP/v1" "--prefix= --readOnly"
# "--blockCacheFile= --readOnly": no cache file, and read-only.
cd "$TMP"  # where a cache file named by a relative path would go
start_usbd --memory --size=1M --blockCacheFile= --readOnly mem
nbdinfo --is readonly "$URI" ||
  fail "--blockCacheFile= swallowed --readOnly: the export is writable"
[ ! -e "$TMP/--readOnly" ] || fail "--blockCacheFile= made a cache file named --readOnly"
stop_usbd
# "--accessId= --readOnly": the id is empty, --readOnly stays an option.
AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= HOME="$TMP" \
  start_fails "no S3 credentials" --accessId= --readOnly --maxRetryPause=0 \
  --baseURL=http://127.0.0.1:1/ bucket
! grep -q -- "'--readOnly'" "$TMP/fail.log" ||
  fail "--accessId= took --readOnly as its value: $(cat "$TMP/fail.log")"
start_fails "^usbd\[[0-9]+\]: error: --readOnly=: empty value" \
  --memory --size=1M --readOnly= mem
start_fails "--size: '' is not a size" --memory --size= --readOnly mem
# One style, one status for an option error and a start error.
grep -qx "Try 'usbd --help' for more information." "$TMP/fail.log" ||
  fail "an option error does not point at --help"

# --- 2. --configFile=DIRECTORY --------------------------------------------------
mkdir "$TMP/conf.d"
start_fails "--configFile: '$TMP/conf.d' is a directory" \
  --configFile="$TMP/conf.d" --memory --size=1M mem

# --- 3. Local paths before the store ---------------------------------------------
mkdir "$TMP/v3"
start_fails "--blockCacheFile: directory $TMP/no-such-dir: No such file" \
  --test --size=2M --blockCacheFile="$TMP/no-such-dir/cache" "$TMP/v3"
untouched "$TMP/v3" "a start with a bad --blockCacheFile"
mkdir "$TMP/cache-is-dir"
start_fails "--blockCacheFile: $TMP/cache-is-dir is not a regular file" \
  --test --size=2M --blockCacheFile="$TMP/cache-is-dir" "$TMP/v3"
untouched "$TMP/v3" "a start with a directory as --blockCacheFile"
status=0
"$USBD" -f --listen="unix:$TMP/no-such-dir/usbd.sock" --test --size=2M \
  "$TMP/v3" >"$TMP/fail.log" 2>&1 || status=$?
[ $status -eq 1 ] && grep -q "error: --listen: directory $TMP/no-such-dir" "$TMP/fail.log" ||
  fail "a --listen in a missing directory: status $status, $(cat "$TMP/fail.log")"
untouched "$TMP/v3" "a start with a bad --listen directory"
start_fails "passwordFile" --test --size=2M --encrypt \
  --passwordFile="$TMP/no-such-password" "$TMP/v3"
untouched "$TMP/v3" "a start with a missing --passwordFile"
# A TCP port in use: found by a trial bind, before the store.
port=$(free_port)
"$USBD" -f --listen="tcp:127.0.0.1:$port" --memory --size=1M busy \
  >>"$TMP/usbd.log" 2>&1 &
busy_pid=$!
on_exit "kill -KILL $busy_pid"
for ((i = 0; i < 200; i++)); do
  nbdinfo --size "nbd://127.0.0.1:$port/" >/dev/null 2>&1 && break
  sleep 0.05
done
status=0
"$USBD" -f --listen="tcp:127.0.0.1:$port" --test --size=2M "$TMP/v3" \
  >"$TMP/fail.log" 2>&1 || status=$?
[ $status -eq 1 ] && grep -q "error: --listen: cannot listen on tcp:127.0.0.1:$port" "$TMP/fail.log" ||
  fail "a busy --listen port: status $status, $(cat "$TMP/fail.log")"
untouched "$TMP/v3" "a start on a busy TCP port"
kill -TERM $busy_pid && wait $busy_pid || fail "the usbd on port $port failed"
# The corrected command needs no --force, and creates the volume.
start_usbd --test --size=2M --blockCacheFile="$TMP/cache" "$TMP/v3"
[ "$(nbdinfo --size "$URI")" -eq $((2 << 20)) ] || fail "v3 has the wrong size"
stop_usbd
[ -f "$TMP/v3/usbd-volume" ] || fail "the corrected start did not create v3"

# --- 4. Warnings -------------------------------------------------------------------
warns() {  # PATTERN WHAT: the log of the last start has the warning
  grep -qE "^usbd\[[0-9]+\]: warning: .*$1" "$TMP/warn.log" ||
    fail "no warning for $2: $(cat "$TMP/warn.log")"
}
port=$(free_port)
for listen in "tcp:0.0.0.0:$port" "tcp:[::]:$port"; do
  "$USBD" -f --listen="$listen" --memory --size=1M mem >"$TMP/warn.log" 2>&1 &
  pid=$!
  for ((i = 0; i < 200; i++)); do
    grep -q "info: serving" "$TMP/warn.log" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  kill -TERM $pid; wait $pid || true
  warns "--listen=$(sed 's/[][]/\\&/g' <<<"$listen"): listening on every network interface" \
    "--listen=$listen"
done
printf 'secret-password\n' >"$TMP/password"
chmod 644 "$TMP/password"
start_usbd --memory --size=1M --encrypt --passwordFile="$TMP/password" mem
stop_usbd
cp "$TMP/usbd.log" "$TMP/warn.log"
warns "--passwordFile $TMP/password may be read by other users \(mode 0644\)" \
  "a --passwordFile of mode 644"
printf 'AKID:secret-key\n' >"$TMP/access"
chmod 640 "$TMP/access"
: >"$TMP/usbd.log"
HOME="$TMP" start_fails "" --accessFile="$TMP/access" --maxRetryPause=0 \
  --baseURL=http://127.0.0.1:1/ bucket
cp "$TMP/fail.log" "$TMP/warn.log"
warns "--accessFile $TMP/access may be read by other users \(mode 0640\)" \
  "an --accessFile of mode 640"
HOME="$TMP" start_fails "" --accessId=AKID --accessKey=S3CR3T-key \
  --maxRetryPause=0 --baseURL=http://127.0.0.1:1/ bucket
cp "$TMP/fail.log" "$TMP/warn.log"
warns "--accessKey on the command line can be read by other users" "--accessKey"
start_fails "" --httpStore --httpHeader="Authorization: Bearer S3CR3T-token" \
  --maxRetryPause=0 --baseURL=http://127.0.0.1:1/ bucket
cp "$TMP/fail.log" "$TMP/warn.log"
warns "--httpHeader on the command line can be read by other users" "--httpHeader"
! grep -q S3CR3T "$TMP/usbd.log" || fail "a secret reached the log"
chmod 600 "$TMP/password"
: >"$TMP/usbd.log"
start_usbd --memory --size=1M --encrypt --passwordFile="$TMP/password" mem
stop_usbd
! grep -q "warning" "$TMP/usbd.log" ||
  fail "a private password file gave a warning: $(cat "$TMP/usbd.log")"

# --- 5. Read-only store directory, cache bigger than its file system ----------------
if [ "$(id -u)" -ne 0 ] || ! mkdir "$TMP/ro" ||
  ! mount -t tmpfs -o size=16m usbd-test "$TMP/ro" 2>"$TMP/mount.err"; then
  echo "SKIP: $TEST_NAME part 5 needs root to mount a tmpfs: $(cat "$TMP/mount.err" 2>/dev/null)" >&2
  exit 77
fi
on_exit "umount -l '$TMP/ro'"
make_random_file "$TMP/data" $((1 << 20)) 5
start_usbd --test --size=1M --blockSize=64k "$TMP/ro/vol"
nbdcopy "$TMP/data" "$URI" || fail "nbdcopy into the --test volume failed"
stop_usbd
mount -o remount,ro "$TMP/ro" || fail "cannot make the tmpfs read-only"
start_fails "--test: directory $TMP/ro/vol is not writable \(Read-only file system\); give --readOnly" \
  --test "$TMP/ro/vol"
: >"$TMP/usbd.log"
start_usbd --test --readOnly "$TMP/ro/vol"
grep -q "warning: --test: directory $TMP/ro/vol is not writable" "$TMP/usbd.log" ||
  fail "no warning for serving a read-only directory: $(cat "$TMP/usbd.log")"
nbdcopy "$URI" "$TMP/back" || fail "nbdcopy from the read-only directory failed"
cmp "$TMP/data" "$TMP/back" || fail "the read-only directory served other data"
stop_usbd

mkdir "$TMP/small" "$TMP/v5"
mount -t tmpfs -o size=8m usbd-test "$TMP/small" ||
  fail "cannot mount a second tmpfs"
on_exit "umount -l '$TMP/small'"
start_fails "--blockCacheFile: $TMP/small/cache needs 1[0-9] MiB more \(64 blocks of 256 KiB, --blockCacheSize\) but its file system has [0-9] MiB free" \
  --test --size=4M --blockCacheFile="$TMP/small/cache" --blockCacheSize=64 \
  "$TMP/v5"
untouched "$TMP/v5" "a start with a cache bigger than its file system"
# An existing volume with a bigger block size than the option's default.
start_usbd --test --size=4M --blockSize=1M "$TMP/v5"
stop_usbd
start_fails "--blockCacheFile: $TMP/small/cache needs .* \(16 blocks of 1024 KiB" \
  --test --blockCacheFile="$TMP/small/cache" --blockCacheSize=16 "$TMP/v5"
# What fits is served.
start_usbd --test --blockCacheFile="$TMP/small/cache" --blockCacheSize=4 "$TMP/v5"
stop_usbd

echo "PASS: $TEST_NAME"
