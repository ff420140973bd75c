#!/bin/bash
# Secrets stay out of core dumps (issue 11, part 4), with the real binary,
# real stores and real dumps. Four runs of an encrypted volume, each with
# real I/O through libnbd (so the cipher is used and, on S3, every request
# signed, SigV4 checked for real by moto_server or radosgw: S3_SERVER):
#  1. --httpStore on nginx, --passwordFile, and
#     --httpHeader 'Authorization: Bearer TOKEN' on the command line;
#  2. --httpStore, the password and the header in an options file;
#  3. S3, the secret key from --accessFile, --passwordFile;
#  4. S3, --accessKey and --password on the command line.
# Each running usbd is dumped with gdb's `gcore`, then killed with SIGABRT
# for a kernel core dump, and each dump is searched for: the password, the
# AES-256 volume key (derived here with python3's hashlib.scrypt from the
# password and the salt and parameters in the volume metadata, so nothing
# in usbd exposes it), the S3 secret access key, and the header's token.
# A positive control (a non-secret string usbd certainly holds) proves each
# dump is complete enough to be searched.
# The kernel half needs a core_pattern that writes a file: a relative one
# (cores land in usbd's working directory) is used as it is; a pipe or an
# absolute path is pointed at this test's directory for the test only when
# root may change it (restored at exit); otherwise that half is skipped
# with a loud message. Skipped (77) only without gdb, nbdsh or python3.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/servers.sh"
if ! command -v gcore >/dev/null 2>&1 || ! command -v gdb >/dev/null 2>&1; then
  echo "SKIP: $TEST_NAME needs gdb and its gcore, which are not installed" >&2
  echo "SKIP: install them with: apt-get install gdb" >&2
  exit 77
fi
require_tool python3 nbdsh
require_nbd_py
# gcore attaches with ptrace: as root always; otherwise Yama may forbid it.
scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)
if [ "$(id -u)" -ne 0 ] && [ "$scope" -ge 1 ]; then
  echo "SKIP: $TEST_NAME: gcore cannot attach to a process that is not its" \
    "child here (kernel.yama.ptrace_scope=$scope, not root)" >&2
  exit 77
fi

# Unique, long, recognisable secrets (never on a command line but the
# header's, which is what is tested there).
PASSWORD="pw-usbd-dump-test-7d1e0c5b9a2f4e86-$$"
TOKEN="tok-usbd-dump-test-3b8f21c6d4e95a07-$$"
printf '%s\n' "$PASSWORD" >"$TMP/pw"
chmod 600 "$TMP/pw"
mkdir -p "$TMP/cores"

# --- where a kernel core dump lands -----------------------------------------
KERNEL_CORES=yes
PATTERN_FILE=/proc/sys/kernel/core_pattern
pattern=$(cat "$PATTERN_FILE" 2>/dev/null || echo '|')
case $pattern in
  /* | '|'*)
    if [ "$(id -u)" -eq 0 ] && printf '%s' "$TMP/cores/core.%p" \
        >"$PATTERN_FILE" 2>/dev/null; then
      on_exit "printf '%s\n' '$pattern' >$PATTERN_FILE"
    else
      KERNEL_CORES=no
    fi
    ;;
esac
(ulimit -c unlimited) 2>/dev/null || KERNEL_CORES=no
if [ "$KERNEL_CORES" = no ]; then
  echo "WARNING: $TEST_NAME: no kernel core dump can be had here" \
    "(core_pattern '$pattern' cannot be changed, or the core size limit" \
    "cannot be raised): THE KERNEL CORE DUMP HALF OF THIS TEST IS SKIPPED" \
    "(gcore is still checked)" >&2
fi

# start_dumpable ARGS...: usbd in the foreground, in $TMP/cores, with no
# limit on core size; sets USBD_PID once the socket exists.
start_dumpable() {
  rm -f "$SOCK"
  (cd "$TMP/cores" && { ulimit -c unlimited 2>/dev/null || true; } &&
    exec "$USBD" -f --listen="unix:$SOCK" "$@") >>"$TMP/usbd.log" 2>&1 &
  USBD_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    [ -S "$SOCK" ] && return 0
    kill -0 "$USBD_PID" 2>/dev/null ||
      fail "usbd exited during start: $(tail -n 5 "$TMP/usbd.log")"
    sleep 0.05
  done
  fail "usbd did not create $SOCK within 15 s"
}

# Writes and reads back 2 MiB over NBD: every block goes through AES-GCM and
# (on S3) a signed request.
do_io() {
  "$NBD_PY" - "$URI" <<'PY' || fail "NBD I/O through usbd failed"
import nbd, os, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
data = os.urandom(2 << 20)
h.pwrite(data, 1 << 20)
h.flush()
assert h.pread(len(data), 1 << 20) == data, "read back differs"
assert h.pread(65536, 8 << 20) == bytes(65536), "unwritten block not zero"
h.shutdown()
PY
}

# volume_key METADATA_FILE: the hex AES-256 key of that volume, derived
# from $PASSWORD as usbd's kdf.h documents (scrypt, 32 bytes).
volume_key() {
  python3 - "$1" "$PASSWORD" <<'PY'
import hashlib, sys
meta = dict(l.split("=", 1) for l in open(sys.argv[1]).read().splitlines()
            if "=" in l)
name, params = meta["kdf"].split(":", 1)
assert name == "scrypt", meta["kdf"]
p = dict(kv.split("=") for kv in params.split(","))
n, r, par = int(p["n"]), int(p["r"]), int(p["p"])
key = hashlib.scrypt(sys.argv[2].encode(), salt=bytes.fromhex(meta["kdf_salt"]),
                     n=n, r=r, p=par, maxmem=256 * r * (n + par + 2), dklen=32)
print(key.hex())
PY
}

# search_dump LABEL DUMP CONTROL NAME=HEX...: fails naming every secret
# found in DUMP; CONTROL (hex of a non-secret usbd holds) must be found.
FOUND=0
search_dump() {
  local label=$1 dump=$2 control=$3
  shift 3
  [ -s "$dump" ] || fail "$label: no dump at $dump"
  local out
  out=$(python3 - "$dump" "$control" "$@" <<'PY'
import mmap, sys
path, control, needles = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(path, "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if m.find(bytes.fromhex(control)) < 0:
        print("CONTROL-MISSING")
    for item in needles:
        name, value = item.split("=", 1)
        needle, count, at = bytes.fromhex(value), 0, m.find(bytes.fromhex(value))
        while at >= 0:
            count += 1
            at = m.find(needle, at + 1)
        print(f"{name}={count}")
PY
)
  case $out in
    *CONTROL-MISSING*)
      fail "$label: the control string is not in $dump: the search is broken"
      ;;
  esac
  local line
  for line in $out; do
    echo "$label: ${line%%=*} found ${line#*=} times"
    if [ "${line#*=}" != 0 ]; then FOUND=$((FOUND + 1)); fi
  done
}

hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# dump_and_search LABEL CONTROL NAME=HEX...: gcore, then SIGABRT, of usbd.
dump_and_search() {
  local label=$1
  shift
  gcore -o "$TMP/gcore-$label" "$USBD_PID" >"$TMP/gcore.log" 2>&1 ||
    fail "$label: gcore failed: $(tail -n 3 "$TMP/gcore.log")"
  search_dump "$label gcore" "$TMP/gcore-$label.$USBD_PID" "$@"
  rm -f "$TMP/gcore-$label.$USBD_PID"
  rm -f "$TMP"/cores/core*
  kill -ABRT "$USBD_PID"
  wait "$USBD_PID" 2>/dev/null || true
  USBD_PID=
  if [ "$KERNEL_CORES" = yes ]; then
    local core
    core=$(ls "$TMP"/cores/core* 2>/dev/null | head -n 1)
    [ -n "$core" ] || fail "$label: SIGABRT left no kernel core dump in" \
      "$TMP/cores (core_pattern '$(cat $PATTERN_FILE)')"
    search_dump "$label kernel core" "$core" "$@"
    rm -f "$TMP"/cores/core*
  fi
}

# Each case: start usbd with its secrets given one way, do I/O, derive the
# key, dump, search.
http_case() {  # LABEL VOLUME ARGS...
  local label=$1 vol=$2
  shift 2
  mkdir -p "$NGINX_ROOT/$vol"
  start_dumpable --httpStore --baseURL="$NGINX_URL" --size=16M \
    --blockSize=64k "$@" "$vol"
  do_io
  local key
  key=$(volume_key "$NGINX_ROOT/$vol/usbd-volume")
  [ ${#key} -eq 64 ] || fail "$label: cannot derive the volume key"
  dump_and_search "$label" "$(hex "$NGINX_URL")" \
    password="$(hex "$PASSWORD")" aes_key="$key" header_token="$(hex "$TOKEN")"
}
s3_case() {  # LABEL BUCKET ARGS...
  local label=$1 bucket=$2
  shift 2
  s3_create_bucket "$bucket"
  start_dumpable "${S3_URL[@]}" --size=16M --blockSize=64k "$@" "$bucket"
  do_io
  s3_get "$bucket" usbd-volume >"$TMP/$bucket-meta" ||
    fail "$label: cannot fetch the volume metadata"
  local key
  key=$(volume_key "$TMP/$bucket-meta")
  [ ${#key} -eq 64 ] || fail "$label: cannot derive the volume key"
  dump_and_search "$label" "$(hex "$S3_KEY_ID")" \
    password="$(hex "$PASSWORD")" aes_key="$key" s3_secret="$(hex "$S3_SECRET")"
}

# 1. Plain HTTP: the token on the command line, the password in a file.
start_nginx_dav
http_case http-argv vol1 --encrypt --passwordFile="$TMP/pw" \
  --httpHeader="Authorization: Bearer $TOKEN"
# 2. Plain HTTP: token and password in an options file.
cat >"$TMP/usbd.conf" <<CONF
[usbd]
encrypt = true
password = "$PASSWORD"
httpHeader = Authorization: Bearer $TOKEN
CONF
chmod 600 "$TMP/usbd.conf"
http_case http-configfile vol2 --configFile="$TMP/usbd.conf"
# 2b. The same in s3backer's options file format (one argument a line).
printf '%s\n' --encrypt "--password=$PASSWORD" \
  "--httpHeader=Authorization: Bearer $TOKEN" >"$TMP/s3backer.conf"
chmod 600 "$TMP/s3backer.conf"
http_case http-s3backer-file vol3 --configFile="$TMP/s3backer.conf"

# 3. S3: the secret key from --accessFile, the password from a file.
start_s3
s3_case s3-accessfile dumpvol1 --accessFile="$S3_ACCESS_FILE" \
  --encrypt --passwordFile="$TMP/pw"
# 4. S3: the secret key and the password on the command line (both forms).
s3_case s3-argv dumpvol2 --accessId="$S3_KEY_ID" --accessKey "$S3_SECRET" \
  --encrypt --password="$PASSWORD"

[ "$FOUND" -eq 0 ] || fail "$FOUND secret(s) found in core dumps (see above)"
echo "PASS: $TEST_NAME: no secret in any dump (kernel cores: $KERNEL_CORES)"
