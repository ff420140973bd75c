#!/bin/bash
# make check: `usbd --nbd` on the real kernel NBD driver, in a VM: attach,
# mkfs, mount, kill -9 and reattach, fsck, clean stop, cold start. See
# tests/vm/usbd_nbd_scenario.sh and tests/vm/run_vm.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$HERE/run_vm.sh" "$HERE/usbd_nbd_scenario.sh"
