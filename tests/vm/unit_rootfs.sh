# shellcheck shell=bash
# Sourced by the VM tests under systemd (after tests/integration/lib.sh):
# unit_rootfs ROOTFS lays out what an administrator installs (usbd(8),
# EXAMPLES): usbd in /usr/sbin, contrib/usbd-nbd@.service enabled for nbd0,
# /etc/usbd/ for nbd0.conf and nbd0.env (the caller writes them), and the
# first /dev/nbd0 line of contrib/fstab.example as /etc/fstab (mounted at
# /srv/data).
unit_rootfs() {
  local rootfs=$1 unit="$top_srcdir/contrib/usbd-nbd@.service" target line
  local system=$rootfs/etc/systemd/system
  line=$(grep -m 1 '^/dev/nbd0 ' "$top_srcdir/contrib/fstab.example") ||
    fail "no /dev/nbd0 line in contrib/fstab.example"
  mkdir -p "$rootfs/usr/sbin" "$rootfs/etc/usbd" "$system" "$rootfs/srv/data"
  cp "$USBD" "$rootfs/usr/sbin/usbd"
  cp "$unit" "$system/"
  for target in $(sed -n 's/^WantedBy=//p' "$unit"); do
    mkdir -p "$system/$target.wants"
    ln -s ../usbd-nbd@.service "$system/$target.wants/usbd-nbd@nbd0.service"
  done
  echo "$line" >"$rootfs/etc/fstab"
  echo "fstab: $line"
}
