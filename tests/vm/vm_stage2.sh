#!/bin/bash
# Stage 2, PID 1 inside the host's root (overlay): a fresh /run, the
# read-write share at /out, then the job (/out/job.sh, written by
# run_vm.sh); its exit status goes to /out/status and to the console as
# "USBD-VM-STATUS=N"; then the VM powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# /tmp stays the overlay's (writable, backed by the tmpfs upper layer): a
# fresh tmpfs would hide the host's /tmp, where the source tree may live
# (a clone in /tmp, as CI may make).
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm /out
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
hostname usbd-vm
ip link set lo up
# With run_vm.sh --net: qemu's user network, static (the host is 10.0.2.2).
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  ip addr add 10.0.2.15/24 dev eth0
  ip route add default via 10.0.2.2
  echo "nameserver 10.0.2.3" >/etc/resolv.conf
fi
status=1
if mount -t 9p -o trans=virtio,version=9p2000.L out /out; then
  # Trees run_vm.sh shared on their own (kept under /dev or /run).
  while read -r tag dir; do
    mkdir -p "$dir" &&
      mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose "$tag" "$dir" ||
      echo "vm: cannot mount $dir"
  done </out/trees
  bash /out/job.sh </dev/null 2>&1 | tee /out/log
  status=${PIPESTATUS[0]}
  echo "$status" >/out/status
else
  echo "vm: cannot mount the result share"
fi
sync
echo "USBD-VM-STATUS=$status"
echo o >/proc/sysrq-trigger
sleep 30
