#!/bin/bash
# make check: contrib/usbd-nbd@.service passes `systemd-analyze verify`
# (with ExecStart pointing at the built usbd and our man pages on MANPATH),
# and the options it passes are usbd's.
set -euo pipefail
: "${USBD:?USBD must point at the usbd binary (make check sets it)}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$HERE/../.." && pwd)}"
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze (package systemd) is not installed" >&2
  exit 77
fi
TMP=$(mktemp -d /tmp/usbd-unit.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
UNIT='usbd-nbd@.service'
sed "s|/usr/sbin/usbd|$USBD|" "$top_srcdir/contrib/$UNIT" >"$TMP/$UNIT"
mkdir -p "$TMP/man/man5" "$TMP/man/man8"
cp "$top_srcdir/man/usbd.8" "$TMP/man/man8/"
cp "$top_srcdir/man/usbd.conf.5" "$TMP/man/man5/"
(cd "$TMP" && MANPATH="$TMP/man" systemd-analyze verify 'usbd-nbd@nbd0.service')
echo "systemd-analyze verify: OK"
help=$("$USBD" --help)
for option in $(grep '^ExecStart=' "$top_srcdir/contrib/$UNIT" |
  grep -o -- '--[A-Za-z]*'); do
  grep -q -- "$option\b" <<<"$help" || {
    echo "FAIL: the unit passes $option, which usbd --help does not list" >&2
    exit 1
  }
done
echo "options of ExecStart: OK"
