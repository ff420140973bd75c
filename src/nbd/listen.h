// Listening sockets for the NBD server: "unix:PATH" (mode 0600, a stale
// socket file left by a dead server is replaced) or "tcp:HOST:PORT".
#ifndef USBD_NBD_LISTEN_H_
#define USBD_NBD_LISTEN_H_

#include <string>

#include "util/fd.h"
#include "util/status.h"

namespace usbd::nbd {

struct ListenSocket {
  Fd fd;
  std::string unix_path;  // removed on shutdown; empty for TCP
  // TCP: the host clients connect to ("localhost" for every interface)
  // and the port bound (the one the kernel chose for port 0).
  std::string tcp_host;
  uint16_t tcp_port = 0;
};

Result<ListenSocket> Listen(const std::string& address);

// The NBD URI of `export_name` on `socket` (NBD's doc/uri.md), every part
// percent-encoded: nbd+unix:///EXPORT?socket=PATH or
// nbd://HOST:PORT/EXPORT ('/' is kept: an export "/dir" gives "///dir",
// which the URI format reads as "/dir").
std::string NbdUri(const ListenSocket& socket, const std::string& export_name);

// What Listen(address) would refuse, found without creating anything
// (TCP: a trial bind, released at once): a unix socket path that is too
// long, is not a socket, is in use, or whose directory is missing or not
// writable; a TCP address that does not resolve or cannot be bound.
Status CheckListenAddress(const std::string& address);

}  // namespace usbd::nbd

#endif  // USBD_NBD_LISTEN_H_
