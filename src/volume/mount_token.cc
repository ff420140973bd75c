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

// s3backer's mounted flag, PREFIX + "s3backer-mounted": s3backer writes it
// while it has the volume mounted and refuses to mount while it exists.
// s3backer writes its host name on the first line (no space in it); usbd
// writes "usbd HOST pid PID token ID" so each can tell its own.
constexpr std::string_view kS3backerFlagByUsbd = "usbd ";

struct S3backerFlag {
  std::string text;  // the object's content
  bool by_usbd() const { return text.starts_with(kS3backerFlagByUsbd); }
  bool ours(const MountToken& token) const {
    return by_usbd() &&
           text.find(" token " + token.id + "\n") != std::string::npos;
  }
  // "s3backer on HOST (flag written DATE)" or "a usbd (HOST pid PID)".
  std::string holder() const {
    const size_t eol = text.find('\n');
    std::string first = text.substr(0, eol);
    std::string date;
    if (eol != std::string::npos) {
      date = text.substr(eol + 1, text.find('\n', eol + 1) - eol - 1);
    }
    std::string who;
    if (by_usbd()) {
      first = first.substr(kS3backerFlagByUsbd.size());
      who =
          "a usbd (" + Printable(first.substr(0, first.find(" token "))) + ")";
    } else {
      who = "s3backer on " + Printable(first);
    }
    return who +
           (date.empty() ? "" : " (flag written " + Printable(date) + ")");
  }
};

Result<std::optional<S3backerFlag>> ReadS3backerFlag(
    ObjectStore& store, const std::string& key, const RetryOptions& retry) {
  std::optional<S3backerFlag> flag;
  Status status = RetryWithBackoff(retry, "reading '" + key + "'", [&] {
    auto got = store.Get(key);
    if (!got.ok()) return got.status();
    if (got->has_value()) {
      flag = S3backerFlag{std::string((*got)->begin(), (*got)->end())};
    }
    return Status::Ok();
  });
  if (!status.ok()) return status.WithContext("reading '" + key + "'");
  return flag;
}

std::string S3backerFlagFor(const MountToken& token) {
  return std::string(kS3backerFlagByUsbd) + token.host + " pid " +
         std::to_string(token.pid) + " token " + token.id + "\n" + token.since +
         "\n";
}

}  // namespace

std::string S3backerFlagKey(const std::string& prefix) {
  return prefix + "s3backer-mounted";
}

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
  const std::string flag_key = S3backerFlagKey(prefix);
  auto flag = ReadS3backerFlag(store, flag_key, options.retry);
  if (!flag.ok()) return flag.status();
  // A flag that a usbd wrote goes with its usbd-mounted token, judged below.
  if (flag->has_value() && !(*flag)->by_usbd()) {
    if (options.read_only) {
      LogWarning("volume " + name + " is mounted by " + (*flag)->holder() +
                 " ('" + flag_key +
                 "'); this read-only run may see blocks change under it");
    } else if (options.force) {
      LogWarning("volume " + name + ": taking over the mounted flag of " +
                 (*flag)->holder() + " (--force)");
    } else {
      return Status::Error(
          EBUSY, "volume " + name + " is mounted by " + (*flag)->holder() +
                     ": its flag '" + flag_key +
                     "' is there; if that s3backer is gone, run s3backer "
                     "--reset-mounted-flag or usbd --reset-mounted-flag " +
                     name + " (or add --force)");
    }
  }
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
  // s3backer's flag too, so that s3backer refuses the volume while usbd has
  // it (s3backer reads neither usbd-mounted nor the flag's content).
  Status flagged =
      PutWithRetry(store, flag_key, S3backerFlagFor(ours), options.retry,
                   "writing s3backer's mounted flag '" + flag_key + "'");
  if (!flagged.ok()) {
    (void)DeleteWithRetry(store, key, options.retry,
                          "deleting mount token '" + key + "'");
    return flagged;
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
  // s3backer's flag first: a crash between the two leaves our own token,
  // which the next usbd start takes over by itself.
  const std::string flag_key = S3backerFlagKey(prefix);
  auto flag = ReadS3backerFlag(store, flag_key, retry);
  if (!flag.ok()) return flag.status();
  if (flag->has_value() && (*flag)->ours(ours)) {
    USBD_RETURN_IF_ERROR(
        DeleteWithRetry(store, flag_key, retry,
                        "deleting s3backer's mounted flag '" + flag_key + "'"));
  } else if (flag->has_value()) {
    LogWarning("s3backer's mounted flag '" + flag_key + "' now belongs to " +
               (*flag)->holder() + "; left in place");
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

Result<std::optional<S3backerFlagInfo>> ReadS3backerFlagInfo(
    ObjectStore& store, const std::string& prefix, const RetryOptions& retry) {
  auto flag = ReadS3backerFlag(store, S3backerFlagKey(prefix), retry);
  if (!flag.ok()) return flag.status();
  if (!flag->has_value()) return std::optional<S3backerFlagInfo>();
  return std::optional<S3backerFlagInfo>(
      S3backerFlagInfo{(*flag)->holder(), (*flag)->by_usbd()});
}

Result<bool> ResetMountToken(ObjectStore& store, const std::string& prefix,
                             const RetryOptions& retry) {
  const std::string key = MountTokenKey(prefix);
  const std::string flag_key = S3backerFlagKey(prefix);
  auto flag = ReadS3backerFlag(store, flag_key, retry);
  if (!flag.ok()) return flag.status();
  if (flag->has_value()) {
    USBD_RETURN_IF_ERROR(
        DeleteWithRetry(store, flag_key, retry,
                        "deleting s3backer's mounted flag '" + flag_key + "'"));
    LogInfo("removed the mounted flag '" + flag_key + "' of " +
            (*flag)->holder());
  }
  auto object =
      GetWithRetry(store, key, retry, "reading mount token '" + key + "'");
  if (!object.ok()) return object.status();
  if (!object->has_value()) return flag->has_value();
  std::string holder = Holder(ParseMountToken(**object, key), key);
  USBD_RETURN_IF_ERROR(
      DeleteWithRetry(store, key, retry, "deleting mount token '" + key + "'"));
  LogInfo("removed the mount token '" + key + "' of " + holder);
  return true;
}

}  // namespace usbd
