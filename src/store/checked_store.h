// A seam that checks the BlockStore contract (store/block_store.h) on
// every call crossing it, as nbdkit's backend does between filters.
// BuildLayers (stack/build_stack.h) puts one above the stack and one under
// every layer when StackSpec::check_seams is set: in the tests and in
// --enable-sanitizers builds.
//
// Checked on the way down: the block is in range; offset + size is within
// the block; a partial Write only where the store below offers partial
// writes; no Write, Trim or WriteObject when it is read-only; a
// WriteObject's size is 1..MaxObjectSize; QueryAllocation stays within the
// volume; nothing before Start or after Shutdown. On the way up: a
// ReadObject's object is 0..MaxObjectSize bytes; QueryAllocation answered
// `count` bits.
//
// At the top of the stack a violation is the caller's: it is refused
// (EINVAL, EPERM when read-only) naming the seam, and the store below never
// sees it. Under a layer (fatal = true) it is a bug of the layer above: the
// process stops with the violation and the seam named, so a test that
// triggers it fails at the line that broke the contract.
// A wrong answer from the store below (the checks on the way up) stops the
// process at every seam, the top one included: it is never the caller's.
#ifndef USBD_STORE_CHECKED_STORE_H_
#define USBD_STORE_CHECKED_STORE_H_

#include <memory>
#include <string>

#include "store/block_store.h"

namespace usbd {

struct CheckedOptions {
  // Names the seam in messages: "zero -> codec".
  std::string seam;
  // A violation stops the process (a seam between layers) instead of being
  // refused (the top of the stack).
  bool fatal = false;
};

std::unique_ptr<BlockStore> NewCheckedStore(CheckedOptions options,
                                            std::unique_ptr<BlockStore> inner);

}  // namespace usbd

#endif  // USBD_STORE_CHECKED_STORE_H_
