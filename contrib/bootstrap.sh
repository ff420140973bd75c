#!/bin/sh
# Prepares a fresh clone for building: installs the Debian packages listed in
# contrib/debian-packages.txt that are missing, generates the build system
# and configures it. Safe to run again. Used by GNUmakefile before the first
# `make`, so the README's commands work on a fresh Debian 12 machine.
set -eu
cd "$(dirname "$0")/.."

missing=
for pkg in $(grep -v '^#' contrib/debian-packages.txt); do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $pkg" ;;
  esac
done
if [ -n "$missing" ]; then
  echo "usbd: installing Debian packages:$missing"
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  # Wait for another apt (unattended upgrades, a parallel job) to finish.
  apt="$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600"
  $apt update -qq
  $apt install -y -qq $missing
fi

if [ ! -x configure ]; then
  echo "usbd: generating the build system (autoreconf)"
  autoreconf -fi
fi
if [ ! -f Makefile ]; then
  echo "usbd: configuring"
  ./configure ${USBD_CONFIGURE_FLAGS:-}
fi
