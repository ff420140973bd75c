#include "volume/metadata.h"

#include <cctype>
#include <chrono>
#include <set>

#include "codec/object_format.h"
#include "crypto/encoding_settings.h"
#include "object/object_block_store.h"
#include "util/log.h"
#include "util/strings.h"
#include "volume/erase.h"
#include "volume/volume_text.h"

namespace usbd {
namespace {

constexpr std::string_view kMagic = "usbd-volume";
constexpr unsigned kDeleteThreads = 16;

// codec and cipher names: [a-z0-9-]+.
bool IsName(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

std::string Bool(bool value) { return value ? "1" : "0"; }

// Everything a volume needs to be named in messages and to be written.
struct Context {
  ObjectStore& store;
  const std::string& prefix;
  const RetryOptions& retry;
  std::string key;   // of the metadata object
  std::string name;  // of the volume, for messages
};

constexpr std::string_view kCodecLevelKey = "x-codec-level";

Status CheckRequestNames(const VolumeRequest& request) {
  Codec codec;
  Cipher cipher;
  if (!request.codec.empty() && !ParseCodecName(request.codec, &codec)) {
    return Status::Invalid("unknown codec '" + request.codec + "'");
  }
  if (!request.cipher.empty() && !ParseCipherName(request.cipher, &cipher)) {
    return Status::Invalid("unknown cipher '" + request.cipher + "'");
  }
  return Status::Ok();
}

// The entries after codec and cipher, in the order the object holds them:
// the key derivation, the object format and the "x-" keys.
void AppendEncodingEntries(const VolumeMetadata& m, EncodingEntries* entries) {
  if (!m.kdf.empty()) entries->emplace_back("kdf", m.kdf);
  if (!m.kdf_salt.empty()) entries->emplace_back("kdf_salt", m.kdf_salt);
  if (!m.key_check.empty()) entries->emplace_back("key_check", m.key_check);
  // Absent means 1, so a volume of format 1 keeps the text older usbd read.
  if (m.object_format != kObjectFormatV1) {
    entries->emplace_back("object_format", std::to_string(m.object_format));
  }
  for (const auto& entry : m.extra) entries->push_back(entry);
}

// The recorded encoding settings of `m`, checked: EIO naming the object.
Result<EncodingSettings> RecordedEncoding(const Context& c,
                                          const VolumeMetadata& m) {
  EncodingEntries entries = {{"codec", m.codec}, {"cipher", m.cipher}};
  AppendEncodingEntries(m, &entries);
  auto settings = EncodingSettingsFromEntries(entries);
  if (!settings.ok()) {
    return Status::IoError("volume metadata object '" + c.key +
                           "' is invalid: " + settings.status().message());
  }
  return settings;
}

// Records `level` as x-codec-level (0: removes it).
void SetCodecLevel(VolumeMetadata* m, int level) {
  std::erase_if(m->extra, [](const auto& entry) {
    return entry.first == kCodecLevelKey;
  });
  if (level != 0) {
    m->extra.emplace_back(std::string(kCodecLevelKey), std::to_string(level));
  }
}

std::string EncodingText(const VolumeMetadata& m) {
  std::string text;
  if (m.codec != "none") text += ", compression " + m.codec;
  if (m.cipher != "none") text += ", encryption " + m.cipher;
  return text;
}

// A new volume's key: derived from the request's password with a fresh
// salt; records kdf, kdf_salt and key_check in *m. Null without a cipher.
Result<std::unique_ptr<SecretKey>> CreateKey(const Context& c,
                                             const VolumeRequest& request,
                                             VolumeMetadata* m) {
  if (m->cipher == "none") return std::unique_ptr<SecretKey>();
  if (request.password.empty()) {
    return Status::Invalid("volume " + c.name + " is to be encrypted (" +
                           m->cipher + ") but no password was given");
  }
  EncodingSettings settings;
  ParseCipherName(m->cipher, &settings.cipher);
  settings.kdf = request.kdf;
  auto key = CreateVolumeKey(request.password, &settings);
  if (!key.ok()) return key.status().WithContext("volume " + c.name);
  for (const auto& [name, value] : EncodingSettingsToEntries(settings)) {
    if (name == "kdf") m->kdf = value;
    if (name == "kdf_salt") m->kdf_salt = value;
    if (name == "key_check") m->key_check = value;
  }
  return key;
}

// An existing volume's key, checked against its key_check: EACCES for a
// wrong password. Null when the volume has no cipher.
Result<std::unique_ptr<SecretKey>> OpenKey(const Context& c,
                                           const VolumeRequest& request,
                                           const EncodingSettings& recorded) {
  if (recorded.cipher == Cipher::kNone) return std::unique_ptr<SecretKey>();
  if (request.password.empty()) {
    return Status::Invalid("volume " + c.name + " is encrypted (" +
                           std::string(CipherName(recorded.cipher)) +
                           "): give --encrypt and its password "
                           "(--passwordFile, --passwordEnv or --password)");
  }
  auto key = OpenVolumeKey(request.password, recorded);
  if (!key.ok()) {
    return Status::Error(key.status().code(), "volume " + c.name + ": " +
                                                  key.status().message() +
                                                  " ('" + c.key + "')");
  }
  return key;
}

// Writes `metadata` and reads it back; EBUSY when another writer's
// metadata (another uuid) is there afterwards.
Status WriteAndVerify(const Context& c, const VolumeMetadata& metadata) {
  USBD_RETURN_IF_ERROR(PutWithRetry(c.store, c.key,
                                    FormatVolumeMetadata(metadata), c.retry,
                                    "writing volume metadata '" + c.key + "'"));
  auto object = GetWithRetry(c.store, c.key, c.retry,
                             "reading back volume metadata '" + c.key + "'");
  if (!object.ok()) return object.status();
  if (!object->has_value()) {
    return Status::Error(EBUSY, "volume metadata '" + c.key +
                                    "' vanished right after it was written "
                                    "(is the volume being erased?)");
  }
  auto back = ParseVolumeMetadata(**object, c.key);
  if (!back.ok()) return back.status();
  if (back->uuid != metadata.uuid) {
    return Status::Error(EBUSY, "volume " + c.name +
                                    " was written by another usbd at the same "
                                    "time (uuid " +
                                    back->uuid + " in '" + c.key +
                                    "'); try again");
  }
  return Status::Ok();
}

// Shrinking: deletes every block object of `recorded`'s naming at or past
// block `new_count`, so that growing again cannot bring old data back.
Status DeleteBlocksPast(const Context& c, const VolumeMetadata& recorded,
                        uint64_t new_count) {
  const BlockNaming hash = recorded.naming;
  KeySource source;
  if (c.store.CanList()) {
    source = [&](const std::function<bool(std::string)>& emit) {
      std::string last;  // a retried listing skips what it already emitted
      return RetryWithBackoff(c.retry, "listing volume " + c.name, [&] {
        return c.store.List(c.prefix, [&](const ObjectInfo& info) {
          uint64_t block;
          if (!last.empty() && info.key <= last) return true;
          last = info.key;
          if (!ParseBlockObjectKey(c.prefix, hash, info.key, &block) ||
              block < new_count) {
            return true;
          }
          return emit(info.key);
        });
      });
    };
  } else {
    source = [&](const std::function<bool(std::string)>& emit) {
      for (uint64_t b = new_count; b < recorded.geometry().block_count; ++b) {
        if (!emit(BlockObjectKey(c.prefix, hash, b))) break;
      }
      return Status::Ok();
    };
  }
  uint64_t deleted = 0;
  Status status = DeleteObjectsInParallel(c.store, source, kDeleteThreads,
                                          c.retry, std::nullopt, {}, &deleted);
  if (!status.ok()) {
    return status.WithContext("shrinking volume " + c.name +
                              ": deleting the blocks past the new end");
  }
  LogInfo("volume " + c.name + ": deleted " + std::to_string(deleted) +
          " block objects past the new end");
  return Status::Ok();
}

Result<OpenedVolume> CreateVolume(const Context& c,
                                  const VolumeRequest& request) {
  if (request.read_only && !request.force) {
    return Status::Error(
        ENOENT, "volume " + c.name + " has no metadata object '" + c.key +
                    "', and a --readOnly run never creates a volume: run "
                    "once without --readOnly to create it, or add --force "
                    "to read it with the given --size and --blockSize");
  }
  auto block = FindBlockObject(c.store, c.prefix, c.retry);
  if (!block.ok()) return block.status();
  const bool adopt = block->has_value();
  // s3backer's blocks say what volume they belong to: such a volume is
  // adopted as it is, no --force needed (s3backer detects it the same way).
  std::optional<S3backerBlock> s3backer;
  std::string encoding, encoded_key;
  if (adopt) {
    // The block found (its encoding) and block 0 (the geometry): one HEAD
    // when they are the same object.
    std::vector<std::string> keys = {(*block)->key};
    const std::string first = BlockObjectKey(c.prefix, (*block)->naming, 0);
    if (first != keys[0]) keys.push_back(first);
    for (const std::string& key : keys) {
      auto found = ReadS3backerBlock(c.store, key, c.retry);
      if (!found.ok()) return found.status();
      if (found->size != 0) s3backer = *found;
      if (encoding.empty() && !found->encoding.empty()) {
        encoding = found->encoding;
        encoded_key = key;
      }
    }
  }
  const bool wants_cipher = !request.cipher.empty() && request.cipher != "none";
  if (s3backer) {
    const bool encrypted = encoding.find("encrypt") != std::string::npos;
    if (encrypted != wants_cipher) {
      return Status::Invalid(
          "volume " + c.name + ": s3backer " +
          (encrypted ? "encrypted its blocks ('" + encoded_key + "': " +
                           encoding + "): give --encrypt with its password"
                     : std::string("did not encrypt its blocks: drop "
                                   "--encrypt")));
    }
  } else if (!encoding.empty()) {
    return Status::Error(
        ENOTSUP, "volume " + c.name + " holds blocks encoded '" + encoding +
                     "' (e.g. '" + encoded_key +
                     "') but no s3backer geometry on block 0: usbd cannot "
                     "tell what volume they belong to");
  }
  if (s3backer && !request.force) {
    const bool size_differs =
        request.size != 0 && request.size != s3backer->size;
    const bool block_size_differs =
        request.block_size != 0 && request.block_size != s3backer->block_size;
    if (size_differs || block_size_differs) {
      return Status::Invalid(
          "volume " + c.name + ": its s3backer blocks (e.g. '" + (*block)->key +
          "') record size " + FormatSize(s3backer->size) + ", block size " +
          FormatSize(s3backer->block_size) + ", but " +
          (size_differs ? "--size " + FormatSize(request.size)
                        : "--blockSize " + FormatSize(request.block_size)) +
          " was given (add --force to use the given one)");
    }
  }
  if (adopt && !request.force && !s3backer) {
    return Status::Error(
        EEXIST, "volume " + c.name + " has block objects (e.g. '" +
                    (*block)->key + "', " + BlockNamingName((*block)->naming) +
                    " naming) but no metadata object '" + c.key +
                    "': it was written by s3backer, an older usbd or another "
                    "tool, and creating a volume over it would hide its data. "
                    "Add --force with that volume's --size and --blockSize "
                    "to adopt it, or erase it with --erase");
  }
  // Adopted blocks keep the naming they were found in; a contradicting
  // --blockHashPrefix would misread every one of them.
  if (adopt && request.block_hash_prefix &&
      *request.block_hash_prefix != ((*block)->naming != BlockNaming::kPlain)) {
    return Status::Invalid("volume " + c.name + ": --blockHashPrefix is " +
                           (*request.block_hash_prefix ? "given" : "off") +
                           " but its block objects (e.g. '" + (*block)->key +
                           "') use the " + BlockNamingName((*block)->naming) +
                           " naming");
  }
  VolumeRequest given = request;
  if (s3backer) {
    if (given.size == 0) given.size = s3backer->size;
    if (given.block_size == 0) given.block_size = s3backer->block_size;
  }
  if (given.size == 0) {
    return Status::Invalid("--size is required to create a new volume (" +
                           c.name + " has no metadata object '" + c.key + "')");
  }
  VolumeMetadata m;
  m.size = given.size;
  m.block_size =
      given.block_size != 0 ? given.block_size : kDefaultVolumeBlockSize;
  if (adopt) {
    m.naming = (*block)->naming;
  } else if (request.block_hash_prefix.value_or(false)) {
    m.naming = BlockNaming::kS3backerHash;
  }
  m.uuid = RandomHex(16);
  m.created = UtcTimestamp(std::chrono::system_clock::now());
  if (s3backer) {
    // The blocks stay s3backer's; usbd's layers pass raw blocks.
    m.s3backer_blocks = true;
    m.object_format = kObjectFormatV1;
    m.extra.emplace_back("x-adopted-from", "s3backer");
  } else {
    m.codec = request.codec.empty() ? "none" : request.codec;
    m.cipher = request.cipher.empty() ? "none" : request.cipher;
    if (m.codec != "none") SetCodecLevel(&m, request.codec_level);
    m.object_format = kNewestObjectFormat;
  }
  if (m.size % m.block_size != 0) {
    return Status::Invalid("--size " + FormatSize(m.size) +
                           " is not a multiple of the block size " +
                           FormatSize(m.block_size));
  }
  // The key first: its salt and key check are part of the metadata.
  auto key = CreateKey(c, request, &m);
  if (!key.ok()) return key.status();
  OpenedVolume opened{m, false, false, std::move(key).value()};
  const std::string settings = "size " + FormatSize(m.size) + ", block size " +
                               FormatSize(m.block_size) + EncodingText(m);
  if (request.read_only) {
    LogWarning("volume " + c.name + " has no metadata object '" + c.key +
               "'; this read-only run uses " + settings +
               " (--force) and writes nothing");
    return opened;
  }
  USBD_RETURN_IF_ERROR(WriteAndVerify(c, m));
  opened.created = true;
  if (s3backer) {
    LogInfo("adopted s3backer's volume " + c.name + ": " + settings +
            " (recorded on its blocks), uuid " + m.uuid +
            "; its blocks stay in s3backer's format" +
            (encoding.empty() ? "" : " (found: " + encoding + ")") +
            ", so s3backer can serve it again");
  } else {
    LogInfo((adopt ? "adopted existing block objects as volume "
                   : "created volume ") +
            c.name + ": " + settings + ", uuid " + m.uuid +
            (adopt ? " (--force)" : ""));
  }
  return opened;
}

Result<OpenedVolume> ReconcileVolume(const Context& c,
                                     const VolumeMetadata& recorded,
                                     const EncodingSettings& encoding,
                                     const VolumeRequest& request) {
  VolumeMetadata want = recorded;
  std::vector<std::string> layout;  // conflicts that misread blocks
  std::string codec, cipher;        // encoding conflicts
  auto conflict = [&](const std::string& option, const std::string& given,
                      const std::string& has) {
    return option + " " + given + " but the volume has " + has;
  };
  if (request.block_size != 0 && request.block_size != recorded.block_size) {
    layout.push_back(conflict("--blockSize", FormatSize(request.block_size),
                              FormatSize(recorded.block_size)));
    want.block_size = request.block_size;
  }
  const bool hashed = recorded.naming != BlockNaming::kPlain;
  if (request.block_hash_prefix && *request.block_hash_prefix != hashed) {
    layout.push_back(conflict("--blockHashPrefix",
                              Bool(*request.block_hash_prefix), Bool(hashed)));
    want.naming = *request.block_hash_prefix ? BlockNaming::kS3backerHash
                                             : BlockNaming::kPlain;
  }
  const bool own_encoding = !recorded.s3backer_blocks;
  if (own_encoding && !request.codec.empty() &&
      request.codec != recorded.codec) {
    codec = conflict("compression", request.codec, recorded.codec);
    want.codec = request.codec;
    SetCodecLevel(&want, want.codec == "none" ? 0 : request.codec_level);
  }
  if (own_encoding && !request.cipher.empty() &&
      request.cipher != recorded.cipher) {
    cipher = conflict("encryption", request.cipher, recorded.cipher);
  }
  const bool resize = request.size != 0 && request.size != recorded.size;
  if (resize) want.size = request.size;
  if (layout.empty() && codec.empty() && cipher.empty() && !resize) {
    auto key = OpenKey(c, request, encoding);
    if (!key.ok()) return key.status();
    return OpenedVolume{recorded, false, false, std::move(key).value()};
  }

  std::string conflicts;
  if (resize) {
    conflicts =
        conflict("--size", FormatSize(request.size), FormatSize(recorded.size));
  }
  for (const std::string& text : layout) {
    conflicts += (conflicts.empty() ? "" : "; ") + text;
  }
  for (const std::string* text : {&codec, &cipher}) {
    if (!text->empty()) conflicts += (conflicts.empty() ? "" : "; ") + *text;
  }
  const std::string what = "volume " + c.name + " was created with other " +
                           "settings (recorded in '" + c.key +
                           "'): " + conflicts;
  if (!request.force || !cipher.empty()) {
    std::vector<std::string> hints;
    if (resize || !layout.empty()) {
      std::string hint =
          "drop --size and --blockSize to use the recorded values";
      if (resize) hint += ", or add --force to resize the volume";
      if (!layout.empty()) {
        hint +=
            "; changing the block layout needs an empty volume (--erase "
            "it, then --force)";
      }
      hints.push_back(hint);
    }
    if (!codec.empty()) {
      hints.push_back(
          (recorded.codec == "none" ? std::string("drop --compress")
                                    : "give --compress") +
          " to use the recorded compression, or add --force to switch it "
          "from now on (blocks written either way stay readable)");
    }
    if (!cipher.empty()) {
      hints.push_back(
          (recorded.cipher == "none"
               ? std::string("the volume is not encrypted: drop --encrypt")
               : "the volume is encrypted: give --encrypt with its password") +
          "; the encryption of a volume cannot be changed, not even with "
          "--force (--erase it and create it anew)");
    }
    std::string hint;
    for (const std::string& text : hints) {
      hint += (hint.empty() ? ". " : "; ") + text;
    }
    if (hint.size() > 2) hint[2] = static_cast<char>(std::toupper(hint[2]));
    return Status::Invalid(what + hint);
  }
  // The password is checked before anything is changed.
  auto key = OpenKey(c, request, encoding);
  if (!key.ok()) return key.status();
  if (request.read_only) {
    if (resize || !layout.empty()) {
      return Status::Error(EPERM, what +
                                      ": a --readOnly run never rewrites "
                                      "the volume's metadata");
    }
    // Only the codec differs: a read-only run writes no block either.
    LogWarning("volume " + c.name + ": " + conflicts +
               ": allowed for this read-only run (--force); the metadata "
               "is not rewritten");
    return OpenedVolume{want, false, false, std::move(key).value()};
  }
  if (!layout.empty()) {
    if (!c.store.CanList()) {
      return Status::Invalid(
          what + ": cannot change the block layout: " + c.store.Describe() +
          " cannot list objects to check that the "
          "volume has no blocks");
    }
    auto block = FindBlockObject(c.store, c.prefix, c.retry);
    if (!block.ok()) return block.status();
    if (block->has_value()) {
      return Status::Invalid(what +
                             ": cannot change the block layout of a "
                             "volume that has block objects (e.g. '" +
                             (*block)->key +
                             "'), they would be misread; erase it "
                             "first (--erase)");
    }
  }
  if (want.size % want.block_size != 0) {
    return Status::Invalid("--size " + FormatSize(want.size) +
                           " is not a multiple of the block size " +
                           FormatSize(want.block_size));
  }
  if (resize && layout.empty() && want.size < recorded.size) {
    USBD_RETURN_IF_ERROR(
        DeleteBlocksPast(c, recorded, want.geometry().block_count));
  }
  USBD_RETURN_IF_ERROR(WriteAndVerify(c, want));
  LogWarning("volume " + c.name +
             ": metadata rewritten (--force): " + conflicts);
  return OpenedVolume{want, false, true, std::move(key).value()};
}

}  // namespace

std::string VolumeMetadataKey(const std::string& prefix) {
  return prefix + std::string(kMagic);
}

std::string FormatVolumeMetadata(const VolumeMetadata& m) {
  TextEntries entries = {
      {"size", std::to_string(m.size)},
      {"block_size", std::to_string(m.block_size)},
      {"block_hash_prefix", std::to_string(static_cast<int>(m.naming))},
      {"uuid", m.uuid},
      {"created", m.created},
      {"codec", m.codec},
      {"cipher", m.cipher},
  };
  if (m.s3backer_blocks) entries.emplace_back("block_format", "s3backer");
  AppendEncodingEntries(m, &entries);
  return FormatVolumeText(kMagic, kVolumeMetadataFormat, entries);
}

Result<VolumeMetadata> ParseVolumeMetadata(std::span<const uint8_t> bytes,
                                           const std::string& key) {
  auto entries = ParseVolumeText(bytes, kMagic, kVolumeMetadataFormat,
                                 "volume metadata", key);
  if (!entries.ok()) return entries.status();
  auto fail = [&](const std::string& detail) {
    return Status::IoError("volume metadata object '" + key +
                           "' is invalid: " + detail);
  };
  VolumeMetadata m;
  std::set<std::string> seen;
  for (const auto& [name, value] : *entries) {
    seen.insert(name);
    auto bad = [&, &name = name, &value = value](const std::string& want) {
      return fail(name + "='" + value + "' is not " + want);
    };
    if (name == "size") {
      auto v = ParseDecimal(value);
      if (!v || *v == 0) return bad("a positive number of bytes");
      m.size = *v;
    } else if (name == "block_size") {
      auto v = ParseDecimal(value);
      if (!v || !IsValidVolumeBlockSize(*v)) {
        return bad("a power of two from 512 to 2G");
      }
      m.block_size = static_cast<uint32_t>(*v);
    } else if (name == "block_hash_prefix") {
      if (value != "0" && value != "1" && value != "2") return bad("0, 1 or 2");
      m.naming = static_cast<BlockNaming>(value[0] - '0');
    } else if (name == "uuid") {
      if (!IsLowerHex(value, 32)) return bad("32 lower-case hex digits");
      m.uuid = value;
    } else if (name == "created") {
      if (!IsUtcTimestamp(value)) return bad("a UTC time");
      m.created = value;
    } else if (name == "codec" || name == "cipher") {
      if (!IsName(value)) return bad("a name");
      (name == "codec" ? m.codec : m.cipher) = value;
    } else if (name == "kdf") {
      m.kdf = value;
    } else if (name == "kdf_salt") {
      m.kdf_salt = value;
    } else if (name == "key_check") {
      m.key_check = value;
    } else if (name == "object_format") {
      auto v = ParseDecimal(value);
      if (v && *v > kNewestObjectFormat) {
        return Status::IoError(
            "volume metadata object '" + key + "': the volume's block " +
            "objects are format " + value + ", newer than this usbd " +
            "supports (format " + std::to_string(kNewestObjectFormat) +
            "); use a newer usbd");
      }
      if (!v || !IsKnownObjectFormat(static_cast<uint32_t>(*v))) {
        return bad("a known object format");
      }
      m.object_format = static_cast<uint32_t>(*v);
    } else if (name == "block_format") {
      if (value != "s3backer") return bad("'s3backer'");
      m.s3backer_blocks = true;
    } else if (name.starts_with("x-")) {
      m.extra.emplace_back(name, value);
    } else {
      return fail("unknown key '" + name + "' (written by a newer usbd?)");
    }
  }
  for (const char* required : {"size", "block_size", "block_hash_prefix",
                               "uuid", "created", "codec", "cipher"}) {
    if (!seen.contains(required)) {
      return fail("key '" + std::string(required) + "' is missing");
    }
  }
  if (m.size % m.block_size != 0) {
    return fail("size " + std::to_string(m.size) +
                " is not a multiple of block_size " +
                std::to_string(m.block_size));
  }
  return m;
}

Result<OpenedVolume> OpenOrCreateVolume(ObjectStore& store,
                                        const std::string& prefix,
                                        const VolumeRequest& request,
                                        const RetryOptions& retry) {
  if (request.block_size != 0 && !IsValidVolumeBlockSize(request.block_size)) {
    return Status::Invalid("--blockSize " + std::to_string(request.block_size) +
                           " is not a power of two from 512 to 2G");
  }
  USBD_RETURN_IF_ERROR(CheckRequestNames(request));
  Context c{store, prefix, retry, VolumeMetadataKey(prefix),
            VolumeDisplayName(store, prefix, request.name)};
  auto object = GetWithRetry(store, c.key, retry,
                             "reading volume metadata '" + c.key + "'");
  if (!object.ok()) return object.status();
  if (!object->has_value()) return CreateVolume(c, request);
  auto recorded = ParseVolumeMetadata(**object, c.key);
  if (!recorded.ok()) return recorded.status();
  auto encoding = RecordedEncoding(c, *recorded);
  if (!encoding.ok()) return encoding.status();
  return ReconcileVolume(c, *recorded, *encoding, request);
}

}  // namespace usbd
