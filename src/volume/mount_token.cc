#include "volume/mount_token.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "util/log.h"
#include "util/strings.h"
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

// Printable ASCII only (the token's text format); other bytes become '?'.
std::string Printable(std::string text) {
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return text;
}

// The first line of a small system file, or "" when it cannot be read.
std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  while (!line.empty() && (line.back() == ' ' || line.back() == '\n')) {
    line.pop_back();
  }
  return Printable(line);
}

// Field 22 of /proc/PID/stat (start time in clock ticks since boot), or
// nullopt when there is no such process.
std::optional<uint64_t> ProcessStartTime(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat;
  if (!in || !std::getline(in, stat)) return std::nullopt;
  // The command name (field 2) may hold spaces and ')': skip past its end.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int index = 3; index <= 22; ++index) {
    if (!(fields >> field)) return std::nullopt;
  }
  return ParseDecimal(field);
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

MountIdentity CurrentMountIdentity(const std::string& cache) {
  MountIdentity self;
  self.host = HostName();
  self.pid = static_cast<uint64_t>(getpid());
  self.machine = FirstLine("/etc/machine-id");
  if (self.machine.empty()) self.machine = "host:" + self.host;
  self.boot = FirstLine("/proc/sys/kernel/random/boot_id");
  self.started = ProcessStartTime("self").value_or(0);
  self.cache = Printable(cache);
  return self;
}

bool ProcessIsRunning(uint64_t pid, uint64_t started) {
  if (pid == 0) return false;
  std::optional<uint64_t> now = ProcessStartTime(std::to_string(pid));
  return now.has_value() && (started == 0 || *now == started);
}

HolderKind JudgeMountToken(
    const MountToken& there, const MountIdentity& self,
    const std::function<bool(uint64_t, uint64_t)>& is_running) {
  if (there.machine.empty() || there.boot.empty() || there.started == 0 ||
      there.machine != self.machine) {
    return HolderKind::kOtherMachine;
  }
  if (there.boot == self.boot && is_running(there.pid, there.started)) {
    return HolderKind::kLive;
  }
  if (!there.cache.empty() && there.cache != self.cache) {
    return HolderKind::kOtherCache;
  }
  return HolderKind::kOurStale;
}

std::string FormatMountToken(const MountToken& token) {
  return FormatVolumeText(kMagic, kMountTokenFormat,
                          {{"host", token.host},
                           {"pid", std::to_string(token.pid)},
                           {"since", token.since},
                           {"token", token.id},
                           {"machine", token.machine},
                           {"boot", token.boot},
                           {"started", std::to_string(token.started)},
                           {"cache", token.cache}});
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
    } else if (name == "machine") {
      token.machine = value;
    } else if (name == "boot") {
      token.boot = value;
    } else if (name == "started") {
      auto started = ParseDecimal(value);
      if (!started) return fail("started='" + value + "' is not a number");
      token.started = *started;
    } else if (name == "cache") {
      token.cache = value;
    }  // other keys: information from a newer usbd, ignored
  }
  for (const char* required : {"host", "pid", "since", "token"}) {
    if (!seen.contains(required)) {
      return fail("key '" + std::string(required) + "' is missing");
    }
  }
  // The holder's identity comes whole or not at all (an older usbd's
  // token), so a token cut short never looks like one without a cache.
  int identity_keys = 0;
  for (const char* name : {"machine", "boot", "started", "cache"}) {
    identity_keys += seen.contains(name);
  }
  if (identity_keys != 0 && identity_keys != 4) {
    return fail(
        "its holder's identity (machine, boot, started, cache) is "
        "incomplete");
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
  const MountIdentity self = options.identity
                                 ? *options.identity
                                 : CurrentMountIdentity(options.cache_file);
  if (object->has_value()) {
    Result<MountToken> there = ParseMountToken(**object, key);
    std::string holder = Holder(there, key);
    if (options.read_only) {
      LogWarning("volume " + name + " is mounted read-write by " + holder +
                 "; this read-only run may see blocks change under it");
      return MountToken{};
    }
    const std::string reset =
        "; if that usbd is gone, run usbd "
        "--reset-mounted-flag " +
        name + " (or add --force)";
    HolderKind kind = HolderKind::kOtherMachine;
    if (there.ok()) {
      kind = JudgeMountToken(
          *there, self,
          options.is_running ? options.is_running : ProcessIsRunning);
    }
    if (options.force) {
      LogWarning("volume " + name + ": taking over the mount token of " +
                 holder + " (--force)");
    } else if (kind == HolderKind::kOurStale) {
      LogInfo("volume " + name + ": taking over the mount token of " + holder +
              ", a usbd of this machine that is no longer running" +
              (there->boot != self.boot ? " (it ran before a reboot)" : "") +
              (there->cache.empty()
                   ? " and had no cache file"
                   : " with the same cache file " + there->cache));
    } else if (kind == HolderKind::kLive) {
      return Status::Error(EBUSY, "volume " + name + " is mounted by " +
                                      holder +
                                      ", a usbd that is running on this "
                                      "machine; stop it first");
    } else if (kind == HolderKind::kOtherCache) {
      return Status::Error(
          EBUSY, "volume " + name + " is mounted by " + holder +
                     ", a usbd of this machine that is no longer running "
                     "but used the cache file " +
                     there->cache +
                     ", which may hold blocks not yet uploaded; start usbd "
                     "with --blockCacheFile=" +
                     there->cache + " to recover them" + reset);
    } else {
      return Status::Error(
          EBUSY,
          "volume " + name + " is mounted by " + holder +
              (there.ok() && !there->machine.empty() ? " on another machine"
                                                     : "") +
              reset);
    }
  } else if (options.read_only) {
    return MountToken{};
  }

  MountToken ours;
  ours.host = self.host;
  ours.pid = self.pid;
  ours.machine = self.machine;
  ours.boot = self.boot;
  ours.started = self.started;
  ours.cache = self.cache;
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
