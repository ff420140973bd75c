// The host side of the kernel NBD driver: sysfs state of /dev/nbdX devices
// and tuning. Used by nbd_attach.cc; the public entry points are declared
// in nbd_attach.h.
#ifndef USBD_KERNEL_NBD_HOST_H_
#define USBD_KERNEL_NBD_HOST_H_

#include <cstdint>
#include <string>

namespace usbd::kernel {

// /sys/block/nbdINDEX/pid exists: the device is connected to a server
// (possibly one that died and left it configured).
bool DeviceConnected(int index);
// The device's size in bytes (/sys/block/nbdINDEX/size), 0 if unknown.
uint64_t DeviceSizeBytes(int index);
// /sys/block/nbdINDEX/backend, or "".
std::string DeviceBackend(int index);
// The lowest INDEX whose /dev/nbdINDEX exists and is not connected; -1.
int FirstFreeDevice();
// Raises queue/max_sectors_kb toward `kb` (bounded by max_hw_sectors_kb).
void RaiseMaxSectors(int index, uint32_t kb);

}  // namespace usbd::kernel

#endif  // USBD_KERNEL_NBD_HOST_H_
