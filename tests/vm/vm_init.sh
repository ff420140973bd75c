#!/bin/busybox sh
# shellcheck shell=dash
# Stage 1, the initramfs's /init (busybox): loads the modules for virtio 9p
# and overlayfs, mounts the host's root read-only with a tmpfs overlay on it
# and switches to it, running /vm-stage2 (vm_stage2.sh) as the new init.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /modules/order); do
  insmod "/modules/$module.ko" || echo "vm: insmod $module failed"
done
fail() {
  echo "vm: $*"
  echo "USBD-VM-STATUS=1"
  echo o >/proc/sysrq-trigger
  sleep 10
}
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot /host ||
  fail "cannot mount the host root over 9p"
mount -t tmpfs -o size=70% tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work \
  overlay /newroot || fail "cannot mount the overlay root"
cp /stage2 /newroot/vm-stage2
for dir in proc sys dev; do
  mkdir -p "/newroot/$dir"
  mount --move "/$dir" "/newroot/$dir"
done
exec switch_root /newroot /bin/bash /vm-stage2
