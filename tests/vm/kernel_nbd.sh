#!/bin/bash
# make check: the real kernel NBD client (Debian's nbd-client and nbd.ko,
# in a VM) against the real usbd server. See tests/vm/run_vm.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$HERE/run_vm.sh" "$HERE/nbd_client_scenario.sh"
