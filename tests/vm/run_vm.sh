#!/bin/bash
# Runs a scenario script inside a throw-away VM that has the kernel's NBD
# driver: Debian's linux-image-amd64 kernel under qemu-system-x86_64 (TCG),
# a small busybox initramfs, and this host's root file system mounted
# read-only over 9p with a tmpfs overlay on top (so every tool and the usbd
# binary of the host are there, and nothing on the host is changed).
#
#   tests/vm/run_vm.sh [--net] [--disk FILE] [--systemd ROOTFS]
#                      [--kill-on MARKER] SCENARIO [ARGS...]
#
# Inside the VM, SCENARIO runs as root with bash, with /run on tmpfs and /tmp on
# the overlay (writable), the environment variables USBD, top_srcdir and top_builddir passed
# through, and VM_OUT=/out: a directory shared read-write with the host
# (files left there are kept in $VM_KEEP, if set, after the run). Its output
# is shown on the console and this script exits with its exit status.
# --net adds qemu's user network (the host's loopback is 10.0.2.2).
# --disk FILE attaches FILE (raw, holding an ext4 file system) as a virtio
# disk, mounted at /persist: what is written there survives the VM.
# --systemd ROOTFS boots Debian's systemd as PID 1 (udev and all) instead:
# the files of the directory ROOTFS are laid over the root first (units,
# /etc/fstab, ...), units the host enables that cannot work in the VM are
# masked, and SCENARIO runs as the unit usbd-vm-job.service once
# multi-user.target is reached; then the VM shuts down cleanly
# (`systemctl poweroff`: units are stopped in order).
# --kill-on MARKER kills qemu (-9: a power cut) as soon as MARKER shows on
# the console, and exits 0 then (the scenario prints MARKER only when all
# went well so far).
#
# Exits 77 (SKIP) when qemu-system-x86_64, a kernel image with nbd.ko, or
# busybox-static is missing (see contrib/debian-packages.txt); 1 when the VM
# does not end (or report no result) within $VM_TIMEOUT seconds (default 170).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$HERE/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${USBD:=$top_builddir/usbd}"
: "${VM_TIMEOUT:=170}"
: "${VM_MEMORY:=1024}"

NET=no
DISK=
SYSTEMD_ROOTFS=
KILL_ON=
while [ $# -gt 0 ]; do
  case $1 in
    --net) NET=yes; shift ;;
    --disk) DISK=$(realpath "$2"); shift 2 ;;
    --systemd) SYSTEMD_ROOTFS=$(realpath "$2"); shift 2 ;;
    --kill-on) KILL_ON=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || {
  echo "usage: $0 [--net] [--disk FILE] [--systemd ROOTFS] [--kill-on MARKER]" \
    "SCENARIO [ARGS...]" >&2
  exit 2
}
SCENARIO=$(realpath "$1")
shift

skip() {
  echo "SKIP: $*" >&2
  echo "SKIP: install qemu-system-x86 linux-image-amd64 busybox-static cpio" \
    "(contrib/debian-packages.txt) to run the kernel NBD tests" >&2
  exit 77
}

QEMU=$(command -v qemu-system-x86_64 || true)
[ -n "$QEMU" ] || skip "qemu-system-x86_64 is not installed"
BUSYBOX=
for candidate in /bin/busybox /usr/bin/busybox; do
  # ldd fails on a static executable (busybox-static, not busybox).
  if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then
    BUSYBOX=$candidate
    break
  fi
done
[ -n "$BUSYBOX" ] || skip "a static busybox (busybox-static) is not installed"
command -v cpio >/dev/null || skip "cpio is not installed"

# The newest kernel image whose modules include nbd.
KVER=
for image in $(ls -v /boot/vmlinuz-* 2>/dev/null | sort -rV); do
  version=${image#/boot/vmlinuz-}
  if modinfo -k "$version" -n nbd >/dev/null 2>&1; then
    KVER=$version
    break
  fi
done
[ -n "$KVER" ] || skip "no /boot/vmlinuz-* with nbd.ko (linux-image-amd64)"
KERNEL=/boot/vmlinuz-$KVER

WORK=$(mktemp -d /tmp/usbd-vm.XXXXXX)
QEMU_PID=
cleanup() {
  local status=$?
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill -KILL "$QEMU_PID" 2>/dev/null || true
  fi
  if [ -n "${VM_KEEP:-}" ]; then
    mkdir -p "$VM_KEEP" && cp -a "$WORK/out/." "$VM_KEEP/" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT

# --- the initramfs --------------------------------------------------------
# Modules for the root file system (virtio 9p + overlay) and the scenarios
# (ext4 and the crc32c it asks for at mount time), in dependency order.
# nbd.ko is not loaded here: the scenarios (or usbd) run `modprobe nbd`
# against the host's /lib/modules, which has this kernel's modules.
ORDERED=()
declare -A SEEN=()
add_module() {
  local name=$1 dep
  [ -z "${SEEN[$name]:-}" ] || return 0
  SEEN[$name]=1
  local depends
  depends=$(modinfo -k "$KVER" -F depends "$name" 2>/dev/null) || return 0
  for dep in ${depends//,/ }; do add_module "$dep"; done
  # Built-in "modules" have no file: nothing to load.
  if modinfo -k "$KVER" -n "$name" 2>/dev/null | grep -q '\.ko'; then
    ORDERED+=("$name")
  fi
}
for module in virtio_pci 9pnet_virtio 9p overlay crc32c_generic ext4 \
  virtio_net virtio_blk; do
  add_module "$module"
done

ROOT=$WORK/initramfs
mkdir -p "$ROOT"/{bin,dev,proc,sys,modules,host,rw,newroot}
cp "$BUSYBOX" "$ROOT/bin/busybox"
: >"$ROOT/modules/order"
for module in "${ORDERED[@]}"; do
  file=$(modinfo -k "$KVER" -n "$module")
  case $file in
    *.ko) cp "$file" "$ROOT/modules/$module.ko" ;;
    *.ko.xz) xz -dc "$file" >"$ROOT/modules/$module.ko" ;;
    *.ko.zst) zstd -qdc "$file" >"$ROOT/modules/$module.ko" ;;
    *.ko.gz) gzip -dc "$file" >"$ROOT/modules/$module.ko" ;;
    *) echo "unknown module file $file" >&2; exit 1 ;;
  esac
  echo "$module" >>"$ROOT/modules/order"
done
cp "$HERE/vm_init.sh" "$ROOT/init"
cp "$HERE/vm_stage2.sh" "$ROOT/stage2"
chmod +x "$ROOT/init" "$ROOT/stage2"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initrd.gz"

# --- the job the VM runs --------------------------------------------------
mkdir -p "$WORK/out"
# Under systemd the trees shared on their own (below) are hidden by its own
# /run and /dev/shm: the scenario runs from the result share.
if [ -n "$SYSTEMD_ROOTFS" ]; then
  cp "$SCENARIO" "$WORK/out/scenario.sh"
  SCENARIO=/out/scenario.sh
fi
quoted_args=
for arg in "$@"; do quoted_args+=" $(printf '%q' "$arg")"; done
cat >"$WORK/out/job.sh" <<EOF
export USBD=$(printf '%q' "$USBD")
export top_srcdir=$(printf '%q' "$top_srcdir")
export top_builddir=$(printf '%q' "$top_builddir")
export VM_OUT=/out
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd /tmp
exec bash $(printf '%q' "$SCENARIO")$quoted_args
EOF

# --systemd: the root's additions, and the job as a unit.
# no_timer_check: on a loaded host the TCG guest can miss the timer
# check and panic ("IO-APIC + timer doesn't work").
APPEND="console=ttyS0 quiet loglevel=4 panic=-1 no_timer_check"
if [ -n "$SYSTEMD_ROOTFS" ]; then
  [ -x /lib/systemd/systemd ] || skip "systemd is not installed"
  APPEND+=" usbd.systemd=1 systemd.show_status=false"
  ROOTFS=$WORK/out/rootfs
  mkdir -p "$ROOTFS/etc/systemd/system/multi-user.target.wants"
  # What the host enables (its servers, timers, gettys) has no business in
  # the VM; remote-fs.target stays (it pulls the _netdev mounts in).
  for unit in /etc/systemd/system/*.wants/* getty.target \
    systemd-timesyncd.service; do
    unit=$(basename "$unit")
    case $unit in remote-fs.target | '*') continue ;; esac
    ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
  done
  cat >"$ROOTFS/etc/systemd/system/usbd-vm-job.service" <<'UNIT'
[Unit]
Description=usbd VM test job (tests/vm/run_vm.sh)
After=multi-user.target

[Service]
Type=oneshot
TimeoutStartSec=infinity
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
ExecStart=/bin/bash -c 'bash /out/job.sh </dev/null 2>&1 | tee /out/log; \
  status=$${PIPESTATUS[0]}; echo $$status >/out/status; sync; \
  echo "USBD-VM-STATUS=$$status"; systemctl poweroff --no-block'
UNIT
  ln -sf ../usbd-vm-job.service \
    "$ROOTFS/etc/systemd/system/multi-user.target.wants/usbd-vm-job.service"
  cp -a "$SYSTEMD_ROOTFS/." "$ROOTFS/"
fi

# A tree under /dev or /run (a clone in /dev/shm) would be hidden inside the
# VM by its own /dev, /dev/shm and /run: share it on its own, read-only, and
# let stage 2 mount it back at its path.
TREE_ARGS=()
SHARED=" "
: >"$WORK/out/trees"
for dir in "$top_srcdir" "$top_builddir" "$(dirname "$USBD")"; do
  dir=$(realpath "$dir")
  case $dir in /dev/*|/run/*) ;; *) continue ;; esac
  case $SHARED in *" $dir "*) continue ;; esac
  SHARED+="$dir "
  tag=tree$((${#TREE_ARGS[@]} / 2))
  echo "$tag $dir" >>"$WORK/out/trees"
  TREE_ARGS+=(-virtfs "local,path=$dir,mount_tag=$tag,security_model=passthrough,readonly=on,multidevs=remap")
done

DISK_ARGS=()
if [ -n "$DISK" ]; then
  DISK_ARGS=(-drive "file=$DISK,format=raw,if=virtio,cache=writeback")
fi
NET_ARGS=(-nic none)
if [ $NET = yes ]; then
  # shellcheck disable=SC2054  # qemu's own comma syntax
  NET_ARGS=(-netdev user,id=n0 -device virtio-net-pci,netdev=n0)
fi

echo "vm: booting $KERNEL (TCG, ${VM_MEMORY}M) for $(basename "$SCENARIO")"
START=$(date +%s)
: >"$WORK/console.log"  # exists before tail follows it
"$QEMU" -m "$VM_MEMORY" -smp 1 -nographic -no-reboot \
  -kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
  -append "$APPEND" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap" \
  -virtfs "local,path=$WORK/out,mount_tag=out,security_model=none" \
  "${TREE_ARGS[@]}" "${DISK_ARGS[@]}" "${NET_ARGS[@]}" </dev/null >"$WORK/console.log" 2>&1 &
QEMU_PID=$!
# Follow the console as it comes, stopping when qemu exits or time is up.
tail -n +1 -f --pid="$QEMU_PID" "$WORK/console.log" &
TAIL_PID=$!
deadline=$((START + VM_TIMEOUT))
KILLED=no
TIMED_OUT=no
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if [ -n "$KILL_ON" ] && grep -qF -- "$KILL_ON" "$WORK/console.log"; then
    echo "vm: $KILL_ON: killing qemu (-9)"
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    KILLED=yes
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "vm: not done within $VM_TIMEOUT s: killing qemu" >&2
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    TIMED_OUT=yes
    break
  fi
  sleep 1
done
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
wait "$TAIL_PID" 2>/dev/null || true
echo "vm: done in $(($(date +%s) - START)) s"

[ $KILLED = no ] || exit 0
if [ $TIMED_OUT = yes ]; then
  echo "FAIL: the VM did not end (status file: $(cat "$WORK/out/status" \
    2>/dev/null || echo none))" >&2
  exit 1
fi
# The result: the status file on the shared directory, or else the marker
# line on the console.
status=
if [ -s "$WORK/out/status" ]; then
  status=$(tr -dc 0-9 <"$WORK/out/status")
else
  status=$(sed -n 's/.*USBD-VM-STATUS=\([0-9]*\).*/\1/p' "$WORK/console.log" |
    tail -n 1)
fi
if [ -z "$status" ]; then
  echo "FAIL: the VM reported no result" >&2
  exit 1
fi
exit "$status"
