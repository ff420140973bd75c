#!/bin/bash
# The options as users see them: `usbd --help`, man/usbd.8 and etc/usbd.conf
# list the same options with the same defaults, and mistakes give one clear
# line and exit status 1. Needs no server, no clients and no network.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MAN="$top_srcdir/man/usbd.8"
CONF="$top_srcdir/etc/usbd.conf"
[ -f "$MAN" ] || fail "no man page at $MAN"
[ -f "$CONF" ] || fail "no example options file at $CONF"

# Options that only the command line takes (not in the options file).
CLI_ONLY="configFile help version force erase reset-mounted-flag"

"$USBD" --help >"$TMP/help" || fail "--help exited with status $?"

# One record per option in --help: "name<TAB>text", continuation lines joined.
awk '
  /^  -/ { if (rec != "") print rec; rec = $0; next }
  /^      / && rec != "" { rec = rec " " $0; next }
  { if (rec != "") print rec; rec = "" }
  END { if (rec != "") print rec }
' "$TMP/help" |
  sed -E 's/^  (-[A-Za-z], )?--([A-Za-z][A-Za-z0-9-]*)[^ ]*[[:space:]]+/\2\t/; s/  +/ /g' \
    >"$TMP/help.records"
cut -f1 "$TMP/help.records" | sort >"$TMP/help.names"

# man: the first line after each .TP in the OPTIONS section.
awk '
  /^\.SH / { in_options = ($2 == "OPTIONS") }
  in_options && prev == ".TP" { print }
  { prev = $0 }
' "$MAN" | grep -oE '\\-\\-[A-Za-z0-9]+(\\-[A-Za-z0-9]+)*' | sed 's/\\//g; s/^--//' |
  sort >"$TMP/man.names"

# etc/usbd.conf: the commented-out settings, "#key = default".
sed -nE 's/^#([A-Za-z][A-Za-z0-9-]*) =.*/\1/p' "$CONF" | sort >"$TMP/conf.names"

[ -s "$TMP/help.names" ] || fail "found no options in --help"
diff -u --label help "$TMP/help.names" --label man "$TMP/man.names" ||
  fail "--help and man/usbd.8 OPTIONS list different options"
printf '%s\n' $CLI_ONLY | sort >"$TMP/cli-only"
comm -23 "$TMP/help.names" "$TMP/cli-only" >"$TMP/file.names"
diff -u --label help "$TMP/file.names" --label usbd.conf "$TMP/conf.names" ||
  fail "etc/usbd.conf does not list exactly the options --help lists" \
    "(less $CLI_ONLY)"
[ "$(sort -u "$TMP/help.names" | wc -l)" -eq "$(wc -l <"$TMP/help.names")" ] ||
  fail "--help lists an option twice"

# The same defaults everywhere (listen's depends on the environment).
man_paragraph() {  # NAME: the man text of option NAME, on one line, \- as -
  awk -v name="$1" '
    /^\.(TP|SS|SH)/ { if (found) exit; tp = ($1 == ".TP"); next }
    { gsub(/\\-/, "-") }
    tp { tp = 0; if ($0 ~ ("--" name "([^A-Za-z-]|$)")) found = 1; next }
    found { printf "%s ", $0 }
  ' "$MAN"
}
while IFS=$'\t' read -r name text; do
  default=$(sed -nE 's/.*\(default: ([^)]*)\).*/\1/p' <<<"$text")
  [ -n "$default" ] && [ "$name" != listen ] || continue
  man_paragraph "$name" | grep -qF "Default: $default." ||
    fail "man/usbd.8 does not say 'Default: $default.' for --$name"
  grep -qxF "#$name = $default" "$CONF" ||
    fail "etc/usbd.conf does not say '#$name = $default'"
done <"$TMP/help.records"
awk -F'\t' '$1 == "size"' "$TMP/help.records" | grep -qF 'required with --memory and to create a volume' ||
  fail "--help does not say when --size is required"

# --version prints the package version.
version=$(sed -nE 's/^AC_INIT\(\[usbd\], \[([^]]*)\].*/\1/p' \
  "$top_srcdir/configure.ac")
[ "$("$USBD" --version)" = "usbd $version" ] ||
  fail "--version printed '$("$USBD" --version)', expected 'usbd $version'"

# expect_error STATUS PATTERN ARGS...: usbd fails with STATUS, and the first
# line of stderr matches the extended regex PATTERN.
expect_error() {
  local want=$1 pattern=$2 status=0
  shift 2
  "$USBD" "$@" >"$TMP/out" 2>"$TMP/err" || status=$?
  [ "$status" -eq "$want" ] ||
    fail "usbd $* exited $status, expected $want: $(cat "$TMP/err")"
  head -n 1 "$TMP/err" | grep -qE -e "$pattern" ||
    fail "usbd $*: expected /$pattern/, got: $(head -n 1 "$TMP/err")"
  [ ! -s "$TMP/out" ] || fail "usbd $* wrote to stdout: $(cat "$TMP/out")"
}

expect_error 1 "size.*'12x'" --size=12x bucket
expect_error 1 "^usbd\[[0-9]+\]: error: --blockSize: '300k' is not a power of two" \
  --blockSize=300k --size=3000k bucket
expect_error 1 "^usbd\[[0-9]+\]: error: --size is required" --memory scratch
expect_error 1 "^usbd\[[0-9]+\]: error: --compress: '20' is out of range" \
  --memory --size=1G --compress=20 scratch
expect_error 1 "^usbd\[[0-9]+\]: error: --encrypt needs a password" \
  --memory --size=1G --encrypt scratch
expect_error 1 "^usbd\[[0-9]+\]: error: missing BUCKET" --size=1G
expect_error 1 "--bogus" --bogus --size=1G bucket
expect_error 1 "^usbd\[[0-9]+\]: error: BUCKET 'My_Bucket' is not a valid S3 bucket name" \
  My_Bucket
expect_error 1 "^usbd\[[0-9]+\]: error: --authVersion: 'aws2' is not supported" \
  --authVersion=aws2 bucket
expect_error 1 "^usbd\[[0-9]+\]: error: --httpStore needs --baseURL" --httpStore bucket
expect_error 1 "^usbd\[[0-9]+\]: error: --erase takes BUCKET\[/PREFIX\] only, not TARGET" \
  --erase bucket /dev/nbd0

# A secret given on the command line is not repeated in an error.
expect_error 1 "^usbd\[[0-9]+\]: error: --accessKey only applies to the S3 store" \
  --memory --size=1G --accessKey=S3CR3T-value scratch
! grep -q S3CR3T "$TMP/err" || fail "an error message shows --accessKey"
expect_error 1 "^usbd\[[0-9]+\]: error: --password is only used with --encrypt" \
  --memory --size=1G --password=S3CR3T-password scratch
! grep -q S3CR3T "$TMP/err" || fail "an error message shows --password"

cat >"$TMP/bad.conf" <<'EOF'
# a comment
size = 1G
blockSiz = 1M
EOF
expect_error 1 "^usbd\[[0-9]+\]: error: $TMP/bad.conf:3: unknown option 'blockSiz'" \
  --configFile="$TMP/bad.conf" bucket

printf 'readOnly = yes\nsize = 12x\n' >"$TMP/bad-size.conf"
expect_error 1 "^usbd\[[0-9]+\]: error: $TMP/bad-size.conf:2: size: '12x'" \
  --configFile="$TMP/bad-size.conf" bucket

# The example file parses with every setting uncommented. (--test with
# --memory then stops usbd after the file was read, before it starts.)
sed -E 's/^#([A-Za-z][A-Za-z0-9-]* =)/\1/' "$CONF" >"$TMP/all.conf"
expect_error 1 "^usbd\[[0-9]+\]: error: --test and --memory cannot be used together" \
  --configFile="$TMP/all.conf" --test --memory --size=1G bucket

echo "PASS: $TEST_NAME"
