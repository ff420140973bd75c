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
  std::string uri;        // NBD URI a client can use
};

Result<ListenSocket> Listen(const std::string& address);

// What Listen(address) would refuse, found without creating anything
// (TCP: a trial bind, released at once): a unix socket path that is too
// long, is not a socket, is in use, or whose directory is missing or not
// writable; a TCP address that does not resolve or cannot be bound.
Status CheckListenAddress(const std::string& address);

}  // namespace usbd::nbd

#endif  // USBD_NBD_LISTEN_H_
