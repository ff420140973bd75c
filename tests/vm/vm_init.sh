#!/bin/busybox sh
# shellcheck shell=dash
# Stage 1, the initramfs's /init (busybox): loads the modules for virtio 9p
# and overlayfs, mounts the host's root read-only with a tmpfs overlay on it
# and switches to it, running /vm-stage2 (vm_stage2.sh) as the new init, or
# systemd (usbd.systemd=1 on the kernel command line: run_vm.sh --systemd).
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
# run_vm.sh --disk: the persistent disk (ext4) at /persist, as if it were
# part of the root file system.
if [ -b /dev/vda ]; then
  mkdir -p /newroot/persist
  mount -t ext4 /dev/vda /newroot/persist || fail "cannot mount /dev/vda"
fi
cp /stage2 /newroot/vm-stage2
for dir in proc sys dev; do
  mkdir -p "/newroot/$dir"
  mount --move "/$dir" "/newroot/$dir"
done
# run_vm.sh --systemd: the job runs as a unit under systemd (PID 1). The
# result share, the files laid over the root (/out/rootfs) and the network
# are set up here, before systemd starts.
if grep -q 'usbd.systemd=1' /newroot/proc/cmdline; then
  mkdir -p /newroot/out
  mount -t 9p -o trans=virtio,version=9p2000.L out /newroot/out ||
    fail "cannot mount the result share"
  cp -a /newroot/out/rootfs/. /newroot/ || fail "cannot lay out the root"
  # A /tmp of its own: systemd-tmpfiles would empty the host's through
  # the overlay at boot (slow over 9p).
  mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
  # The host may be a container: the VM is not (systemd would detect one).
  rm -f /newroot/.dockerenv /newroot/run/.containerenv
  if [ -e /newroot/sys/class/net/eth0 ]; then
    ip link set lo up
    ip link set eth0 up
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
  fi
  exec switch_root /newroot /lib/systemd/systemd
fi
exec switch_root /newroot /bin/bash /vm-stage2
