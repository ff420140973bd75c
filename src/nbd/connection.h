// One NBD client connection: handshake, then the transmission phase.
//
// Life of a connection:
//   kHandshake --GO/EXPORT_NAME--> kTransmission --DISC/EOF/error/Stop()-->
//   kDraining (no new requests are read; those already read finish and get
//   their replies) --last worker done--> closed.
//
// In the transmission phase `threads` workers share the socket. Each worker
// takes the read lock, reads one request (header and any WRITE payload, so
// the stream stays in sync even for rejected writes), releases the lock,
// performs the request and sends its reply under the write lock. Requests of
// one connection therefore run concurrently and their replies go out in
// completion order, matched by cookie. Invariants:
//   - every request read gets exactly one reply, except NBD_CMD_DISC;
//   - a reply is written with one call under the write lock (never torn);
//   - no new request is read once draining has begun.
#ifndef USBD_NBD_CONNECTION_H_
#define USBD_NBD_CONNECTION_H_

#include <atomic>
#include <mutex>

#include "nbd/frontend.h"
#include "nbd/handshake.h"
#include "util/fd.h"

namespace usbd::nbd {

class Connection {
 public:
  // Takes ownership of the connected socket. `frontend` outlives this.
  Connection(Fd socket, Frontend* frontend, const ExportInfo& info,
             unsigned threads);

  // Runs the whole connection on the calling thread (plus threads - 1
  // helpers) and returns when it is closed.
  void Serve();

  // From any thread: stop reading requests; in-flight ones still complete.
  // With `refuse_unread` (a server stopping, SIGTERM), the requests already
  // sent but not read yet are read and answered ESHUTDOWN, as the NBD spec
  // suggests, instead of left without a reply. Without it (the kernel's
  // connections, whose queued requests a restarted usbd must serve), they
  // stay unread.
  void Stop(bool refuse_unread = false);

 private:
  struct Request {
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint64_t offset;
    uint32_t length;
    int error;  // errno found while validating, or 0
  };

  void WorkerLoop();
  // Reads the next request under the read lock; false when draining.
  bool ReadRequest(Request* request, std::vector<uint8_t>* payload);
  int Validate(const Request& request) const;
  void Process(const Request& request, std::vector<uint8_t>* buffer);

  void SendSimple(const Request& request, int error,
                  std::span<const uint8_t> data = {});
  void SendRead(const Request& request, std::span<const uint8_t> data);
  void SendStructuredError(const Request& request, int error);
  void SendBlockStatus(const Request& request,
                       const std::vector<Extent>& extents);
  void Send(struct iovec* iov, int count);

  Fd socket_;
  Frontend* const frontend_;
  const ExportInfo info_;
  const unsigned threads_;
  Session session_;

  std::mutex read_mu_;     // guards reading from socket_
  bool draining_ = false;  // guarded by read_mu_
  std::atomic<bool> stopped_{false};
  std::atomic<bool> refuse_unread_{false};
  // Bytes in the socket at Stop(true): how much is answered ESHUTDOWN.
  std::atomic<int64_t> refuse_budget_{0};
  std::mutex write_mu_;        // guards writing to socket_
  bool write_failed_ = false;  // guarded by write_mu_
};

}  // namespace usbd::nbd

#endif  // USBD_NBD_CONNECTION_H_
