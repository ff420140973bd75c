// Encryption: AES-256-GCM per object (--encrypt), between the codec layer
// and the bottom store. Compress, then encrypt.
//
// Every object this layer stores is sealed by an ObjectCipher
// (object_cipher.h): a fresh nonce per object, and the header, the block
// number and the volume UUID authenticated, so an object that was tampered
// with, truncated, moved to another block or copied from another volume is
// refused, never data, and nothing unauthenticated is decompressed. A
// failed checksum (format 2) or authentication is Status::Corrupt naming
// the block (retryable: the retry layer above reads it again; one that
// persists becomes EIO there). An object without encryption in an
// encrypted volume is refused with EIO (it could have been put there by
// anyone).
//
// Only objects cross this layer: the codec layer above (codec_store.h)
// passes its objects, a raw block (exactly block size: format 1) or header
// + payload (+ checksum), and they are sealed as they are (the payload
// under the header's codec); ReadObject returns an equivalent object, with
// its checksum recomputed, or the raw block for one stored with codec
// none. Read and Write are ENOTSUP.
//
// Requires the layer below to keep objects (capabilities().objects) and a
// key; Start() refuses otherwise with EINVAL. Narrows capabilities to
// whole-block writes; offers objects. Counters: encrypt.sealed,
// encrypt.opened, encrypt.auth_failures.
//
// Thread safety: as BlockStore.
#ifndef USBD_CRYPTO_ENCRYPT_STORE_H_
#define USBD_CRYPTO_ENCRYPT_STORE_H_

#include <memory>
#include <string>

#include "codec/object_format.h"
#include "crypto/secret_key.h"
#include "store/block_store.h"

namespace usbd {

struct EncryptOptions {
  // The volume key, from CreateVolumeKey or OpenVolumeKey
  // (encoding_settings.h); the layer owns it from then on.
  std::unique_ptr<SecretKey> key;
  // The volume's UUID as recorded in its metadata (VolumeMetadata::uuid),
  // bound into every object.
  std::string volume_uuid;
  // The object format written (the volume's object_format).
  uint8_t object_format = kNewestObjectFormat;
};

std::unique_ptr<BlockStore> NewEncryptStore(EncryptOptions options,
                                            std::unique_ptr<BlockStore> inner);

}  // namespace usbd

#endif  // USBD_CRYPTO_ENCRYPT_STORE_H_
