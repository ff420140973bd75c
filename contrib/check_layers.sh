#!/bin/sh
# The folder graph of src/ is a DAG, in the order of the stack:
#
#   util <- store <- layers <- volume, daemon <- stack <- main (src/*.cc)
#
# Each folder has a rank; a file may include headers of its own folder and
# of folders of lower rank only. A new folder must be given a rank here
# (doc/layers.md says what belongs where). Also: tests/unit/X/ tests
# src/X/, so every tests/unit folder but testing/ names a src/ folder.
# Run by make check; exit 1 names every include that breaks the order.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

rank() {
  case "$1" in
    util) echo 0 ;;
    store) echo 1 ;;
    object | codec | retry | cache | nbd) echo 2 ;;
    crypto | kernel) echo 3 ;;
    http | config | s3backer) echo 4 ;;
    volume | daemon) echo 5 ;;
    stack) echo 6 ;;
    main) echo 7 ;;
    *) echo unknown ;;
  esac
}

bad=0
checked=0
for file in src/*.cc src/*/*.h src/*/*.cc; do
  [ -f "$file" ] || continue
  case "$file" in
    src/*/*) folder=$(basename "$(dirname "$file")") ;;
    *) folder=main ;;
  esac
  own=$(rank "$folder")
  if [ "$own" = unknown ]; then
    echo "check_layers: $file: folder src/$folder/ has no rank in $0" >&2
    bad=1
    continue
  fi
  for dep in $(sed -n 's|^#include "\([a-z_0-9]*\)/.*"|\1|p' "$file" | sort -u); do
    [ "$dep" = "$folder" ] && continue
    checked=$((checked + 1))
    theirs=$(rank "$dep")
    if [ "$theirs" = unknown ] || [ "$theirs" -ge "$own" ]; then
      echo "check_layers: $file includes $dep/ (rank $theirs) from" \
        "$folder/ (rank $own): only lower ranks may be included" >&2
      bad=1
    fi
  done
done

for dir in tests/unit/*/; do
  name=$(basename "$dir")
  [ "$name" = testing ] && continue
  if [ ! -d "src/$name" ]; then
    echo "check_layers: tests/unit/$name/ mirrors no src/$name/" >&2
    bad=1
  fi
done

[ "$checked" -gt 0 ] || { echo "check_layers: no includes found" >&2; exit 1; }
[ "$bad" -eq 0 ] && echo "check_layers: $checked cross-folder includes, all downwards"
exit "$bad"
