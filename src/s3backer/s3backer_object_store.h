// The object store of a volume adopted from s3backer (its metadata records
// block_format=s3backer, volume/metadata.h): an ObjectStore decorator under
// the block adapter that keeps the volume's blocks in s3backer's format
// (s3backer_codec.h), so s3backer can serve the volume again.
//
//  - Get of a block object reads it with its headers and returns the raw
//    block, whatever s3backer encoding it holds (raw, deflate, deflate +
//    encryption): the codec layer above sees raw blocks only (the volume
//    is object format 1, codec none, no usbd encryption). A block that
//    cannot be decoded is the error DecodeS3backerBlock returns; corrupt
//    objects are retryable, so the retry layer above fetches them again.
//  - Put of a block object takes a raw block (exactly block_size bytes,
//    else EINVAL) and stores it encoded as the run's s3backer options say
//    (S3backerEncoding): raw, deflate (--compress), or deflate + encryption
//    (--encrypt), with s3backer's headers; block 0 also gets
//    x-amz-meta-s3backer-blocksize and -filesize, as s3backer writes them.
//    The store below must keep headers (S3): otherwise Put of an encoded
//    block is ENOTSUP (PutWithHeaders), never stored without its encoding.
//  - Every other key (usbd-volume, the mount tokens), Delete, Head,
//    HeadHeaders and List pass through unchanged.
//
// Thread safety: as ObjectStore; holds no lock. Owns the store below.
#ifndef USBD_S3BACKER_S3BACKER_OBJECT_STORE_H_
#define USBD_S3BACKER_S3BACKER_OBJECT_STORE_H_

#include <memory>
#include <string>

#include "object/block_key.h"
#include "object/object_store.h"
#include "s3backer/s3backer_codec.h"
#include "store/block_store.h"

namespace usbd {

struct S3backerStoreOptions {
  Geometry geometry;                         // the volume's
  std::string prefix;                        // as the block adapter's
  BlockNaming naming = BlockNaming::kPlain;  // the volume's
  // How blocks are written; its cipher also decides how they are read
  // (with one, unencrypted blocks are refused; without, encrypted ones).
  S3backerEncoding encoding;
};

std::unique_ptr<ObjectStore> NewS3backerObjectStore(
    S3backerStoreOptions options, std::unique_ptr<ObjectStore> inner);

}  // namespace usbd

#endif  // USBD_S3BACKER_S3BACKER_OBJECT_STORE_H_
