// The production order of the encoding layers, for the tests:
//   zero -> [compress] -> [encrypt] -> retry -> bottom store
// over a bottom store the test owns (so successive stacks are successive
// runs of one volume, and the test can reach the stored objects).
#ifndef USBD_TESTS_UNIT_TESTING_TEST_STACK_H_
#define USBD_TESTS_UNIT_TESTING_TEST_STACK_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "codec/compress_store.h"
#include "crypto/encoding_settings.h"
#include "crypto/encrypt_store.h"
#include "retry/retry_store.h"
#include "store/zero_store.h"
#include "testing/test_backends.h"

namespace usbd::testing {

enum class Mode { kNone, kCompress, kEncrypt, kBoth };

inline const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kNone:
      return "None";
    case Mode::kCompress:
      return "Compress";
    case Mode::kEncrypt:
      return "Encrypt";
    case Mode::kBoth:
      return "CompressEncrypt";
  }
  return "?";
}

inline bool Compresses(Mode mode) {
  return mode == Mode::kCompress || mode == Mode::kBoth;
}
inline bool Encrypts(Mode mode) {
  return mode == Mode::kEncrypt || mode == Mode::kBoth;
}

// One volume's identity: its UUID and its recorded encoding settings (a
// fresh salt and key check, cheap scrypt parameters).
struct TestVolume {
  std::string uuid;
  std::string password;
  EncodingSettings settings;
};

inline TestVolume NewTestVolume(Mode mode, const std::string& uuid,
                                const std::string& password = "pass word") {
  TestVolume volume{uuid, password, {}};
  volume.settings.codec = Compresses(mode) ? Codec::kZstd : Codec::kNone;
  if (Encrypts(mode)) {
    volume.settings.cipher = Cipher::kAes256Gcm;
    volume.settings.kdf.scrypt_n = 1024;
    EXPECT_TRUE(CreateVolumeKey(password, &volume.settings).ok());
  }
  return volume;
}

// A started stack for `volume` over `bottom` (not owned).
inline std::unique_ptr<BlockStore> NewTestStack(Mode mode, BlockStore* bottom,
                                                const TestVolume& volume) {
  RetryOptions retry;
  retry.max_pause_total = std::chrono::milliseconds(0);
  std::unique_ptr<BlockStore> store = NewRetryStore(retry, Borrow(bottom));
  if (Encrypts(mode)) {
    auto key = OpenVolumeKey(volume.password, volume.settings);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    if (!key.ok()) return nullptr;
    store = NewEncryptStore({std::move(*key), volume.uuid}, std::move(store));
  }
  if (Compresses(mode)) store = NewCompressStore({}, std::move(store));
  store = NewZeroStore(std::move(store));
  Status status = store->Start();
  EXPECT_TRUE(status.ok()) << status.ToString();
  return store;
}

}  // namespace usbd::testing

#endif  // USBD_TESTS_UNIT_TESTING_TEST_STACK_H_
