// The production stack (stack/build_stack.h BuildLayers) in each encoding
// mode, for the tests: zero -> codec -> [encrypt] -> bottom, over a
// bottom store the test owns (so successive stacks are successive runs of
// one volume, and the test can reach the stored objects).
#ifndef USBD_TESTS_UNIT_TESTING_TEST_STACK_H_
#define USBD_TESTS_UNIT_TESTING_TEST_STACK_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "codec/block_codec.h"
#include "crypto/encoding_settings.h"
#include "stack/build_stack.h"
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

// A started stack for `volume` over `bottom` (not owned), built by the
// production builder as for a local store (no retry layer): the codec layer
// (zstd at the default level with compression), encryption with it.
inline std::unique_ptr<BlockStore> NewTestStack(Mode mode, BlockStore* bottom,
                                                const TestVolume& volume) {
  StackSpec spec;
  spec.geometry = bottom->geometry();
  spec.check_seams = true;
  spec.compress_level = Compresses(mode) ? kDefaultCompressLevel : 0;
  if (Encrypts(mode)) {
    auto key = OpenVolumeKey(volume.password, volume.settings);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    if (!key.ok()) return nullptr;
    spec.encryption = {std::move(*key), volume.uuid};
  }
  auto store = BuildLayers(std::move(spec), Borrow(bottom));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  Status status = (*store)->Start();
  EXPECT_TRUE(status.ok()) << status.ToString();
  return std::move(store).value();
}

}  // namespace usbd::testing

#endif  // USBD_TESTS_UNIT_TESTING_TEST_STACK_H_
