#!/bin/sh
# The README's first command ends here: starts usbd on its embedded default
# store (a local directory, no S3 account needed), shows a standard NBD
# client using it, and leaves it running for you.
set -eu
usbd=${1:-./usbd}
dir=$(pwd)
store="$dir/usbd-demo-store"
sock="$dir/usbd-demo.sock"
pidfile="$dir/usbd-demo.pid"
urifile="$dir/usbd-demo.uri"

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "== stopping the previous demo server (pid $(cat "$pidfile"))"
  kill -TERM "$(cat "$pidfile")"
  while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.1; done
fi

echo "== starting: usbd --test --size=1G --listen=unix:$sock $store"
# usbd writes the pid file once it serves, and prints the export's URI.
rm -f "$pidfile"
nohup "$usbd" -f --test --size=1G --listen="unix:$sock" --print-uri \
  --pidfile="$pidfile" "$store" >"$urifile" 2>"$dir/usbd-demo.log" &
server=$!
i=0
while [ ! -s "$pidfile" ]; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 "$server" 2>/dev/null; then
    echo "usbd did not start:" >&2
    cat "$dir/usbd-demo.log" >&2
    exit 1
  fi
  sleep 0.1
done
uri=$(cat "$urifile")

echo "== the export, as nbdinfo sees it"
nbdinfo "$uri"
echo "== qemu-io writes 8 MiB of 0xab at offset 1 MiB, then reads it back"
qemu-io -f raw -c "write -P 0xab 1M 8M" "$uri"
qemu-io -f raw -c "read -P 0xab 1M 8M" "$uri"
echo "== allocation map (nbdinfo --map): data where written, holes elsewhere"
nbdinfo --map "$uri"
echo "== blocks stored as files in $store:"
ls "$store" | head -5
echo
echo "usbd is serving $store at:"
echo "    $uri"
echo "Try: nbdinfo --map '$uri'   or   qemu-img info '$uri'"
echo "Stop it with: kill \$(cat '$pidfile')"
