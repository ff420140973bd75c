// The --test directory seen as an ObjectStore: one file per object, the
// key being the file name. It holds the volume-level objects of a --test
// volume (its metadata, metadata.h) and lets the volume code list, detect
// and erase the block files there, exactly as it does in a bucket; the
// blocks themselves are read and written by the directory block store
// (store/dir_store.h), which names its files the same way.
//
//  - Keys are file names: no '/', not "." or "..", not starting with '.'
//    (EINVAL), since --test prefixes cannot contain '/'.
//  - Put writes a hidden temporary file (".usbd-tmp-KEY-..." as the block
//    store's, which removes stale ones at start), fsyncs it, renames it over
//    the key and fsyncs the directory, so the object is replaced atomically
//    and durably. It creates the directory (one level) when it is missing.
//  - Get and Head of a missing file, or in a missing directory, find nothing;
//    List of a missing directory lists nothing. List skips hidden files and
//    anything that is not a regular file.
//
// Thread safety: every method may be called concurrently.
#ifndef USBD_OBJECT_DIR_OBJECT_STORE_H_
#define USBD_OBJECT_DIR_OBJECT_STORE_H_

#include <memory>
#include <string>

#include "object/object_store.h"

namespace usbd {

std::unique_ptr<ObjectStore> NewDirObjectStore(const std::string& directory);

}  // namespace usbd

#endif  // USBD_OBJECT_DIR_OBJECT_STORE_H_
