// The NBD server: accepts clients on a listening socket and runs one
// Connection per client until a termination signal arrives.
//
// Shutdown (SIGTERM, SIGINT, or ServerOptions::stop_fd): stop accepting, stop
// reading new requests on every connection, let requests in flight finish and
// reply, wait for every connection to close, then return. The caller flushes
// the store.
#ifndef USBD_NBD_SERVER_H_
#define USBD_NBD_SERVER_H_

#include "nbd/frontend.h"
#include "nbd/handshake.h"
#include "util/status.h"

namespace usbd::nbd {

struct ServerOptions {
  ExportInfo export_info;
  unsigned threads_per_connection = 8;
  // When not -1: serving also stops once this descriptor is readable (a
  // pidfd: the --run command exited).
  int stop_fd = -1;
};

// Serves until a signal is readable on `signal_fd` (a signalfd) or
// options.stop_fd is readable. Returns the number of the signal that
// stopped it, 0 for stop_fd.
Result<int> Serve(const ServerOptions& options, Frontend* frontend,
                  int listen_fd, int signal_fd);

}  // namespace usbd::nbd

#endif  // USBD_NBD_SERVER_H_
