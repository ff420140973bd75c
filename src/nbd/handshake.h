// The NBD fixed newstyle handshake, server side.
//
// Negotiate() speaks the handshake on a connected stream socket until the
// client picks the export (NBD_OPT_GO or NBD_OPT_EXPORT_NAME) or the
// connection must end (NBD_OPT_ABORT, EOF, protocol violation). Options we do
// not know get NBD_REP_ERR_UNSUP and negotiation goes on.
#ifndef USBD_NBD_HANDSHAKE_H_
#define USBD_NBD_HANDSHAKE_H_

#include <cstdint>
#include <string>

#include "util/status.h"

namespace usbd::nbd {

// What the server offers.
struct ExportInfo {
  std::string name;         // canonical export name; "" is accepted as alias
  std::string description;  // NBD_INFO_DESCRIPTION
  uint64_t size = 0;
  uint32_t preferred_block_size = 4096;
  bool read_only = false;
  bool can_flush = true;
  bool can_trim = true;
  bool can_multi_conn = true;
  bool can_fast_zero = true;
};

// What the client chose; valid for the transmission phase.
struct Session {
  bool structured_replies = false;
  bool base_allocation = false;  // meta context kBaseAllocationId selected
  uint16_t transmission_flags = 0;
};

// Transmission flags for an export, given whether structured replies are on.
uint16_t TransmissionFlags(const ExportInfo& info, bool structured_replies);

// Returns the Session on success. Any error means: close the connection.
Result<Session> Negotiate(int fd, const ExportInfo& info);

}  // namespace usbd::nbd

#endif  // USBD_NBD_HANDSHAKE_H_
