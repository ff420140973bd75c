#include "crypto/encrypt_store.h"

#include <atomic>
#include <cstring>
#include <vector>

#include "codec/object_format.h"
#include "crypto/object_cipher.h"

namespace usbd {
namespace {

// Per-thread scratch, reused so a read or write allocates nothing.
struct Scratch {
  std::vector<uint8_t> sealed;
  std::vector<uint8_t> payload;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

class EncryptStore : public ForwardingStore {
 public:
  EncryptStore(EncryptOptions options, std::unique_ptr<BlockStore> inner)
      : ForwardingStore(std::move(inner)), options_(std::move(options)) {}

  Capabilities capabilities() const override {
    Capabilities caps = inner().capabilities();
    caps.partial_write = false;
    caps.objects = true;
    return caps;
  }

  Status Start() override {
    if (!inner().capabilities().objects) {
      return Status::Invalid(
          "encryption needs an object store below it that keeps "
          "variable-length objects");
    }
    // Start() runs after daemonising, and memory locks are not inherited
    // across fork(): lock the key's page again in this process.
    if (options_.key) options_.key->Lock();
    auto cipher = ObjectCipher::New(std::move(options_.key),
                                    std::move(options_.volume_uuid));
    if (!cipher.ok()) return cipher.status();
    cipher_ = std::move(*cipher);
    return inner().Start();
  }

  // Blocks are encoded above (the codec layer): only objects cross here.
  Status Read(uint64_t, uint32_t, std::span<uint8_t>) override {
    return Status::Error(ENOTSUP, "the encryption layer keeps objects only");
  }
  Status Write(uint64_t, uint32_t, std::span<const uint8_t>) override {
    return Status::Error(ENOTSUP, "the encryption layer keeps objects only");
  }

  Status ReadObject(uint64_t block, std::vector<uint8_t>* object) override {
    object->clear();
    Scratch& scratch = ThreadScratch();
    bool present;
    auto header = OpenStored(block, &scratch, &present);
    if (!header.ok()) return header.status();
    if (!present) return Status::Ok();
    if (header->codec == Codec::kNone) {
      object->swap(scratch.payload);  // the raw block, as it was written
      return Status::Ok();
    }
    ObjectHeader plain = *header;
    plain.cipher = Cipher::kNone;
    BuildObject(plain, scratch.payload, object);
    return Status::Ok();
  }

  Status WriteObject(uint64_t block, std::span<const uint8_t> object) override {
    const uint32_t block_size = geometry().block_size;
    if (object.size() == block_size) {
      return SealAndStore(block, RawHeader(), object);
    }
    auto header = ParseObjectHeader(object, block_size, block);
    if (!header.ok() || header->cipher != Cipher::kNone) {
      return Status::Invalid(DescribeBlock(block) +
                             ": the layer above passed an object that is "
                             "neither a raw block nor an unencrypted object");
    }
    return SealAndStore(block, *header, ObjectBody(object, *header));
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    out->push_back({"encrypt.sealed", sealed_.load(), "objects encrypted"});
    out->push_back({"encrypt.opened", opened_.load(),
                    "objects decrypted and authenticated"});
    out->push_back({"encrypt.auth_failures", auth_failures_.load(),
                    "objects that failed authentication"});
    ForwardingStore::CollectStats(out);
  }

 private:
  ObjectHeader RawHeader() const {
    ObjectHeader header;
    header.version = options_.object_format;
    header.codec = Codec::kNone;
    header.plain_length = geometry().block_size;
    header.payload_length = header.plain_length;
    return header;
  }

  Status SealAndStore(uint64_t block, const ObjectHeader& header,
                      std::span<const uint8_t> payload) {
    if (cipher_ == nullptr) return Status::Invalid("encryption not started");
    Scratch& scratch = ThreadScratch();
    USBD_RETURN_IF_ERROR(
        cipher_->Seal(block, header, payload, &scratch.sealed));
    sealed_.fetch_add(1, std::memory_order_relaxed);
    return inner().WriteObject(block, scratch.sealed);
  }

  // Reads and opens the object of `block` into scratch->payload; *present
  // is false when the block holds nothing.
  Result<ObjectHeader> OpenStored(uint64_t block, Scratch* scratch,
                                  bool* present) {
    if (cipher_ == nullptr) return Status::Invalid("encryption not started");
    USBD_RETURN_IF_ERROR(inner().ReadObject(block, &scratch->sealed));
    *present = !scratch->sealed.empty();
    if (!*present) return ObjectHeader();
    auto header = cipher_->Open(block, geometry().block_size, scratch->sealed,
                                &scratch->payload);
    if (!header.ok()) {
      auth_failures_.fetch_add(1, std::memory_order_relaxed);
      return header.status();
    }
    opened_.fetch_add(1, std::memory_order_relaxed);
    return header;
  }

  EncryptOptions options_;  // key and UUID move into cipher_ at Start()
  std::unique_ptr<ObjectCipher> cipher_;
  std::atomic<uint64_t> sealed_{0}, opened_{0}, auth_failures_{0};
};

}  // namespace

std::unique_ptr<BlockStore> NewEncryptStore(EncryptOptions options,
                                            std::unique_ptr<BlockStore> inner) {
  return std::make_unique<EncryptStore>(std::move(options), std::move(inner));
}

}  // namespace usbd
