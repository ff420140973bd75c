#!/bin/bash
# Under systemd (JOURNAL_STREAM naming stderr) usbd's lines are "<N>message":
# the priority as sd-daemon(3) prefixes it (<3> error, <4> warning, <6>
# info, <7> debug) and no "usbd[PID]: LEVEL:" of its own, which the journal
# would show twice. A JOURNAL_STREAM inherited by a usbd whose stderr goes
# elsewhere leaves the usual lines. (tests/vm/ runs the unit under systemd.)
source "$(dirname "$0")/lib.sh"
require_tool nbdinfo stat

LOG="$TMP/usbd.log"
: >"$LOG"
stream_of() { stat -c '%d:%i' "$1"; }  # FILE: systemd's JOURNAL_STREAM form

# journal_start ARGS...: usbd -f with stderr on $LOG, JOURNAL_STREAM naming it.
journal_start() {
  rm -f "$SOCK"
  JOURNAL_STREAM=$(stream_of "$LOG") "$USBD" -f --listen="unix:$SOCK" "$@" \
    2>>"$LOG" &
  USBD_PID=$!
  wait_for_line "$LOG" '^<6>serving ' 10 ||
    fail "no '<6>serving' line (usbd exited, or not within 10 s)"
}

# Info, debug and a warning (a password on the command line), then a clean
# stop: every line has a priority and none a prefix of its own.
journal_start --debug --memory --size=16M --encrypt --password=journal-test vol
nbdinfo --size "$URI" >/dev/null || fail "nbdinfo could not reach usbd"
stop_usbd
grep -q '^<7>' "$LOG" || fail "no debug line (<7>) with --debug"
grep -q '^<4>.*--password' "$LOG" || fail "the --password warning is not <4>"
grep -q '^<6>stopped; all data flushed' "$LOG" || fail "no <6> stop line"
! grep -v '^<[3467]>' "$LOG" || fail "lines without a priority prefix"
! grep -q 'usbd\[' "$LOG" || fail "a line carries usbd[PID] itself"
! grep -qE '^<[0-9]>(debug|info|warning|error):' "$LOG" ||
  fail "a line repeats its level in words"

# A start that fails: one <3> line, exit status 1.
: >"$LOG"
status=0
JOURNAL_STREAM=$(stream_of "$LOG") "$USBD" --memory vol 2>>"$LOG" || status=$?
[ "$status" -eq 1 ] || fail "a start without --size exited $status, not 1"
grep -qx '<3>--size is required' "$LOG" ||
  fail "the start error is not '<3>--size is required': $(cat "$LOG")"
! grep -v '^<[3467]>' "$LOG" || fail "a start error wrote a line without priority"

# JOURNAL_STREAM naming another file (inherited, stderr redirected since):
# the usual lines.
: >"$LOG"
JOURNAL_STREAM=$(stream_of "$TMP") "$USBD" --memory vol 2>>"$LOG" || true
grep -qE '^usbd\[[0-9]+\]: error: --size is required$' "$LOG" ||
  fail "a JOURNAL_STREAM of another file changed the lines: $(cat "$LOG")"

echo "PASS: $TEST_NAME"
