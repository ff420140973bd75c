#include "volume/mount_token.h"

#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "util/log.h"
#include "volume/volume_text.h"

namespace usbd {
namespace {

constexpr std::string_view kMagic = "usbd-mounted";

std::string HostName() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') {
    return "unknown";
  }
  std::string host(buffer);
  for (char& c : host) {
    if (c < 0x21 || c > 0x7e) c = '?';  // keep the token's text format
  }
  return host;
}

// "host X pid 1 since T", or what is known of a token that does not parse.
std::string Holder(const Result<MountToken>& token, const std::string& key) {
  if (token.ok()) return token->Describe();
  return "an unknown usbd (its mount token '" + key +
         "' cannot be read: " + token.status().message() + ")";
}

}  // namespace

std::string MountTokenKey(const std::string& prefix) {
  return prefix + std::string(kMagic);
}

std::string MountToken::Describe() const {
  return "host " + host + " pid " + std::to_string(pid) + " since " + since;
}

std::string FormatMountToken(const MountToken& token) {
  return FormatVolumeText(kMagic, kMountTokenFormat,
                          {{"host", token.host},
                           {"pid", std::to_string(token.pid)},
                           {"since", token.since},
                           {"token", token.id}});
}

Result<MountToken> ParseMountToken(std::span<const uint8_t> bytes,
                                   const std::string& key) {
  auto entries =
      ParseVolumeText(bytes, kMagic, kMountTokenFormat, "mount token", key);
  if (!entries.ok()) return entries.status();
  auto fail = [&](const std::string& detail) {
    return Status::IoError("mount token object '" + key +
                           "' is invalid: " + detail);
  };
  MountToken token;
  std::set<std::string> seen;
  for (const auto& [name, value] : *entries) {
    seen.insert(name);
    if (name == "host") {
      if (value.empty()) return fail("host is empty");
      token.host = value;
    } else if (name == "pid") {
      auto pid = ParseDecimal(value);
      if (!pid) return fail("pid='" + value + "' is not a number");
      token.pid = *pid;
    } else if (name == "since") {
      if (!IsUtcTimestamp(value)) return fail("since='" + value + "'");
      token.since = value;
    } else if (name == "token") {
      if (!IsLowerHex(value, 32)) return fail("token='" + value + "'");
      token.id = value;
    }  // other keys: information from a newer usbd, ignored
  }
  for (const char* required : {"host", "pid", "since", "token"}) {
    if (!seen.contains(required)) {
      return fail("key '" + std::string(required) + "' is missing");
    }
  }
  return token;
}

Result<MountToken> AcquireMountToken(ObjectStore& store,
                                     const std::string& prefix,
                                     const MountTokenOptions& options) {
  const std::string key = MountTokenKey(prefix);
  const std::string name = VolumeDisplayName(store, prefix, options.name);
  auto object = GetWithRetry(store, key, options.retry,
                             "reading mount token '" + key + "'");
  if (!object.ok()) return object.status();
  if (object->has_value()) {
    std::string holder = Holder(ParseMountToken(**object, key), key);
    if (options.read_only) {
      LogWarning("volume " + name + " is mounted read-write by " + holder +
                 "; this read-only run may see blocks change under it");
      return MountToken{};
    }
    if (!options.force) {
      return Status::Error(EBUSY, "volume " + name + " is mounted by " +
                                      holder +
                                      "; if that usbd is gone, run usbd "
                                      "--reset-mounted-flag " +
                                      name + " (or add --force)");
    }
    LogWarning("volume " + name + ": taking over the mount token of " + holder +
               " (--force)");
  } else if (options.read_only) {
    return MountToken{};
  }

  MountToken ours;
  ours.host = options.host.empty() ? HostName() : options.host;
  ours.pid = options.pid != 0 ? options.pid : static_cast<uint64_t>(getpid());
  ours.since = UtcTimestamp(std::chrono::system_clock::now());
  ours.id = RandomHex(16);
  USBD_RETURN_IF_ERROR(PutWithRetry(store, key, FormatMountToken(ours),
                                    options.retry,
                                    "writing mount token '" + key + "'"));
  if (options.settle.count() > 0) std::this_thread::sleep_for(options.settle);

  // Read back: a usbd that wrote after us, in the same window, wins.
  object = GetWithRetry(store, key, options.retry,
                        "reading back mount token '" + key + "'");
  if (!object.ok()) return object.status();
  if (!object->has_value()) {
    return Status::Error(EBUSY, "mount token '" + key + "' of volume " + name +
                                    " vanished right after it was written "
                                    "(reset or erased by another usbd?)");
  }
  auto back = ParseMountToken(**object, key);
  if (!back.ok() || back->id != ours.id) {
    return Status::Error(EBUSY, "volume " + name + " was mounted by " +
                                    Holder(back, key) +
                                    " at the same time as this usbd");
  }
  return ours;
}

Status ReleaseMountToken(ObjectStore& store, const std::string& prefix,
                         const MountToken& ours, const RetryOptions& retry) {
  if (!ours.held()) return Status::Ok();
  const std::string key = MountTokenKey(prefix);
  auto object =
      GetWithRetry(store, key, retry, "reading mount token '" + key + "'");
  if (!object.ok()) return object.status();
  if (!object->has_value()) {
    LogWarning("mount token '" + key +
               "' was already gone at release (removed by "
               "--reset-mounted-flag or --erase?)");
    return Status::Ok();
  }
  auto there = ParseMountToken(**object, key);
  if (!there.ok() || there->id != ours.id) {
    return Status::Error(EBUSY, "mount token '" + key + "' now belongs to " +
                                    Holder(there, key) +
                                    " (taken over with --force?); left in "
                                    "place");
  }
  return DeleteWithRetry(store, key, retry,
                         "deleting mount token '" + key + "'");
}

Result<std::optional<MountToken>> ReadMountToken(ObjectStore& store,
                                                 const std::string& prefix,
                                                 const RetryOptions& retry) {
  const std::string key = MountTokenKey(prefix);
  auto object =
      GetWithRetry(store, key, retry, "reading mount token '" + key + "'");
  if (!object.ok()) return object.status();
  if (!object->has_value()) return std::optional<MountToken>();
  auto token = ParseMountToken(**object, key);
  if (!token.ok()) return token.status();
  return std::optional<MountToken>(std::move(token).value());
}

Result<bool> ResetMountToken(ObjectStore& store, const std::string& prefix,
                             const RetryOptions& retry) {
  const std::string key = MountTokenKey(prefix);
  auto object =
      GetWithRetry(store, key, retry, "reading mount token '" + key + "'");
  if (!object.ok()) return object.status();
  if (!object->has_value()) return false;
  std::string holder = Holder(ParseMountToken(**object, key), key);
  USBD_RETURN_IF_ERROR(
      DeleteWithRetry(store, key, retry, "deleting mount token '" + key + "'"));
  LogInfo("removed the mount token '" + key + "' of " + holder);
  return true;
}

}  // namespace usbd
