#!/bin/sh
# Prepares a fresh clone for building: installs the Debian packages listed in
# contrib/debian-packages.txt that are missing, generates the build system
# and configures it. Safe to run again. Used by GNUmakefile before the first
# `make`, so the README's commands work on a fresh Debian 12 machine.
set -eu
cd "$(dirname "$0")/.."

# A package whose line says "no-recommends" after its name is installed
# without the packages it only recommends.
missing=
missing_lean=
while read -r pkg flag; do
  case "$pkg" in '' | '#'*) continue ;; esac
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *)
      if [ "$flag" = no-recommends ]; then
        missing_lean="$missing_lean $pkg"
      else
        missing="$missing $pkg"
      fi ;;
  esac
done <contrib/debian-packages.txt
if [ -n "$missing$missing_lean" ]; then
  echo "usbd: installing Debian packages:$missing$missing_lean"
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  # Wait for another apt (unattended upgrades, a parallel job) to finish.
  apt="$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600"
  $apt update -qq
  [ -z "$missing" ] || $apt install -y -qq $missing
  [ -z "$missing_lean" ] ||
    $apt install -y -qq --no-install-recommends $missing_lean
fi

if [ ! -x configure ]; then
  echo "usbd: generating the build system (autoreconf)"
  autoreconf -fi
fi
if [ ! -f Makefile ]; then
  echo "usbd: configuring"
  ./configure ${USBD_CONFIGURE_FLAGS:-}
fi
