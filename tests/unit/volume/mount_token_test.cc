#include "volume/mount_token.h"

#include <gtest/gtest.h>

#include "testing/test_store.h"

namespace usbd {
namespace {

using testing::TestObjectStore;

const std::string kPrefix = "vol1/";
const std::string kKey = "vol1/usbd-mounted";

// A usbd on machine "m-HOST", in boot "boot-1", whose holders all run.
MountTokenOptions Options(const std::string& host, uint64_t pid,
                          const std::string& cache = "") {
  MountTokenOptions options;
  options.name = "mybucket/vol1";
  MountIdentity self;
  self.host = host;
  self.pid = pid;
  self.machine = "m-" + host;
  self.boot = "boot-1";
  self.started = 1000 + pid;
  self.cache = cache;
  options.identity = self;
  options.cache_file = cache;
  options.is_running = [](uint64_t, uint64_t) { return true; };
  options.settle = std::chrono::milliseconds(0);
  return options;
}

bool HasMessage(const Status& status, const std::string& part) {
  return status.message().find(part) != std::string::npos;
}

TEST(MountTokenTest, AcquireWritesATokenThatReleaseDeletes) {
  TestObjectStore store;
  auto token = AcquireMountToken(store, kPrefix, Options("host-a", 123));
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_TRUE(token->held());
  EXPECT_EQ(token->host, "host-a");
  EXPECT_EQ(token->pid, 123u);
  auto text = store.GetText(kKey);
  ASSERT_TRUE(text);
  EXPECT_TRUE(text->starts_with("usbd-mounted 1\nhost=host-a\npid=123\n"))
      << *text;
  auto there = ReadMountToken(store, kPrefix, RetryOptions());
  ASSERT_TRUE(there.ok() && there->has_value());
  EXPECT_EQ((*there)->id, token->id);

  ASSERT_TRUE(ReleaseMountToken(store, kPrefix, *token, RetryOptions()).ok());
  EXPECT_FALSE(store.GetText(kKey));
  EXPECT_TRUE(ReleaseMountToken(store, kPrefix, *token, RetryOptions()).ok())
      << "a token already gone is only a warning";
}

const std::string kFlag = "vol1/s3backer-mounted";

TEST(MountTokenTest, S3backersFlagIsWrittenBesideTheTokenAndReleased) {
  TestObjectStore store;
  auto token = AcquireMountToken(store, kPrefix, Options("host-a", 123));
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  auto flag = store.GetText(kFlag);
  ASSERT_TRUE(flag) << "s3backer must see the volume in use";
  EXPECT_TRUE(
      flag->starts_with("usbd host-a pid 123 token " + token->id + "\n"))
      << *flag;
  ASSERT_TRUE(ReleaseMountToken(store, kPrefix, *token, RetryOptions()).ok());
  EXPECT_FALSE(store.GetText(kFlag));
  EXPECT_FALSE(store.GetText(kKey));
}

TEST(MountTokenTest, S3backersOwnFlagRefusesUnlessForced) {
  TestObjectStore store;
  // What s3backer 1.5.4 writes: its host name, then the date.
  store.PutText(kFlag, "s3host\n20261207T101010Z\n");
  auto refused = AcquireMountToken(store, kPrefix, Options("host-a", 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), EBUSY);
  EXPECT_TRUE(HasMessage(refused.status(), "mounted by s3backer on s3host"))
      << refused.status().message();
  EXPECT_TRUE(HasMessage(refused.status(), "--reset-mounted-flag"));
  EXPECT_FALSE(store.GetText(kKey)) << "no token taken";
  EXPECT_EQ(*store.GetText(kFlag), "s3host\n20261207T101010Z\n");

  MountTokenOptions read_only = Options("host-r", 2);
  read_only.read_only = true;
  EXPECT_TRUE(AcquireMountToken(store, kPrefix, read_only).ok())
      << "a reader is only warned";

  MountTokenOptions force = Options("host-a", 1);
  force.force = true;
  auto taken = AcquireMountToken(store, kPrefix, force);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_TRUE(store.GetText(kFlag)->starts_with("usbd host-a pid 1 "));
}

TEST(MountTokenTest, AKilledUsbdsFlagIsTakenOverWithItsToken) {
  TestObjectStore store;
  auto first = AcquireMountToken(store, kPrefix, Options("host-a", 7));
  ASSERT_TRUE(first.ok());
  // kill -9: neither is released. The same usbd restarts (pid 7 is gone).
  MountTokenOptions again = Options("host-a", 8);
  again.is_running = [](uint64_t, uint64_t) { return false; };
  auto second = AcquireMountToken(store, kPrefix, again);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(store.GetText(kFlag)->starts_with("usbd host-a pid 8 "));
}

TEST(MountTokenTest, ResetAlsoDeletesS3backersFlag) {
  TestObjectStore store;
  store.PutText(kFlag, "s3host\n20261207T101010Z\n");
  auto removed = ResetMountToken(store, kPrefix, RetryOptions());
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(store.GetText(kFlag));
}

TEST(MountTokenTest, DefaultsToThisHostAndProcess) {
  TestObjectStore store;
  MountTokenOptions options;
  options.settle = std::chrono::milliseconds(0);
  auto token = AcquireMountToken(store, kPrefix, options);
  ASSERT_TRUE(token.ok());
  EXPECT_FALSE(token->host.empty());
  EXPECT_EQ(token->pid, static_cast<uint64_t>(getpid()));
  EXPECT_FALSE(token->machine.empty());
  EXPECT_FALSE(token->boot.empty());
  EXPECT_NE(token->started, 0u);
  EXPECT_TRUE(ProcessIsRunning(token->pid, token->started));
  EXPECT_FALSE(ProcessIsRunning(token->pid, token->started + 1))
      << "same pid, other start time: a reused pid";
}

// The holder's token is there; `self` comes back after a crash.
Result<MountToken> AcquireAfter(TestObjectStore& store,
                                const MountTokenOptions& holder,
                                MountTokenOptions self) {
  auto first = AcquireMountToken(store, kPrefix, holder);
  EXPECT_TRUE(first.ok());
  return AcquireMountToken(store, kPrefix, self);
}

TEST(MountTokenTest, TakesOverItsOwnTokenAfterACrash) {
  TestObjectStore store;
  MountTokenOptions after = Options("host-a", 200, "/var/cache/v.cache");
  after.is_running = [](uint64_t, uint64_t) { return false; };
  auto token =
      AcquireAfter(store, Options("host-a", 100, "/var/cache/v.cache"), after);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->pid, 200u);
  EXPECT_EQ(token->cache, "/var/cache/v.cache");
}

TEST(MountTokenTest, TakesOverItsOwnTokenAfterAReboot) {
  TestObjectStore store;
  MountTokenOptions after = Options("host-a", 100, "/c");
  after.identity->boot = "boot-2";  // the old pid may run again: ignored
  auto token = AcquireAfter(store, Options("host-a", 100, "/c"), after);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
}

TEST(MountTokenTest, TakesOverADeadTokenThatHadNoCacheFile) {
  TestObjectStore store;
  MountTokenOptions after = Options("host-a", 2, "/c");
  after.is_running = [](uint64_t, uint64_t) { return false; };
  EXPECT_TRUE(AcquireAfter(store, Options("host-a", 1), after).ok());
}

TEST(MountTokenTest, RefusesALiveHolderOnThisMachine) {
  TestObjectStore store;
  uint64_t asked_pid = 0, asked_started = 0;
  MountTokenOptions after = Options("host-a", 2, "/c");
  after.is_running = [&](uint64_t pid, uint64_t started) {
    asked_pid = pid;
    asked_started = started;
    return true;
  };
  auto token = AcquireAfter(store, Options("host-a", 1, "/c"), after);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), EBUSY);
  EXPECT_TRUE(HasMessage(token.status(), "host host-a pid 1 since"));
  EXPECT_TRUE(HasMessage(token.status(), "running on this machine"))
      << token.status().message();
  EXPECT_EQ(asked_pid, 1u);
  EXPECT_EQ(asked_started, 1001u);
}

TEST(MountTokenTest, RefusesADeadHolderWithAnotherCacheFile) {
  TestObjectStore store;
  MountTokenOptions after = Options("host-a", 2, "/new.cache");
  after.is_running = [](uint64_t, uint64_t) { return false; };
  auto token = AcquireAfter(store, Options("host-a", 1, "/old.cache"), after);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), EBUSY);
  EXPECT_TRUE(HasMessage(token.status(), "--blockCacheFile=/old.cache"))
      << token.status().message();
}

TEST(MountTokenTest, RefusesAnotherMachineEvenIfItsPidIsDeadHere) {
  TestObjectStore store;
  MountTokenOptions after = Options("host-b", 2, "/c");
  after.is_running = [](uint64_t, uint64_t) { return false; };
  auto token = AcquireAfter(store, Options("host-a", 1, "/c"), after);
  ASSERT_FALSE(token.ok());
  EXPECT_TRUE(HasMessage(token.status(), "on another machine"))
      << token.status().message();
  EXPECT_TRUE(HasMessage(token.status(), "--reset-mounted-flag"));
}

TEST(MountTokenTest, RefusesATokenWithoutIdentity) {
  TestObjectStore store;
  // An older usbd's token: no machine, boot, started or cache.
  store.PutText(kKey,
                "usbd-mounted 1\nhost=host-a\npid=1\nsince=2026-01-02T03:04:"
                "05Z\ntoken=" +
                    std::string(32, 'a') + "\n");
  MountTokenOptions after = Options("host-a", 2);
  after.is_running = [](uint64_t, uint64_t) { return false; };
  auto token = AcquireMountToken(store, kPrefix, after);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), EBUSY);
}

TEST(MountTokenTest, IdentityRoundTrips) {
  MountToken token{
      "h",    5,  "2026-01-02T03:04:05Z",     std::string(32, 'b'), "mach",
      "boot", 77, "/var/cache/usbd/a b.cache"};
  std::string text = FormatMountToken(token);
  auto parsed = ParseMountToken(
      std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
      kKey);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->machine, "mach");
  EXPECT_EQ(parsed->boot, "boot");
  EXPECT_EQ(parsed->started, 77u);
  EXPECT_EQ(parsed->cache, "/var/cache/usbd/a b.cache");
}

TEST(MountTokenTest, SecondAcquireRefusedNamingTheHolder) {
  TestObjectStore store;
  auto first = AcquireMountToken(store, kPrefix, Options("host-a", 123));
  ASSERT_TRUE(first.ok());
  auto second = AcquireMountToken(store, kPrefix, Options("host-b", 456));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), EBUSY);
  const std::string m = second.status().message();
  EXPECT_TRUE(HasMessage(second.status(),
                         "volume mybucket/vol1 is mounted by host host-a pid "
                         "123 since " +
                             first->since))
      << m;
  EXPECT_TRUE(
      HasMessage(second.status(), "usbd --reset-mounted-flag mybucket/vol1"))
      << m;
  auto there = ReadMountToken(store, kPrefix, RetryOptions());
  EXPECT_EQ((*there)->id, first->id) << "the holder's token is untouched";
}

TEST(MountTokenTest, ForceTakesOverAndTheOldHolderDoesNotDeleteIt) {
  TestObjectStore store;
  auto first = AcquireMountToken(store, kPrefix, Options("host-a", 1));
  ASSERT_TRUE(first.ok());
  MountTokenOptions force = Options("host-b", 2);
  force.force = true;
  auto second = AcquireMountToken(store, kPrefix, force);
  ASSERT_TRUE(second.ok()) << second.status().ToString();

  Status release = ReleaseMountToken(store, kPrefix, *first, RetryOptions());
  ASSERT_FALSE(release.ok());
  EXPECT_EQ(release.code(), EBUSY);
  EXPECT_TRUE(HasMessage(release, "host host-b pid 2")) << release.message();
  auto there = ReadMountToken(store, kPrefix, RetryOptions());
  ASSERT_TRUE(there.ok() && there->has_value());
  EXPECT_EQ((*there)->id, second->id) << "a foreign token stays";
  EXPECT_TRUE(ReleaseMountToken(store, kPrefix, *second, RetryOptions()).ok());
  EXPECT_FALSE(store.GetText(kKey));
}

TEST(MountTokenTest, ResetDeletesWhateverIsThere) {
  TestObjectStore store;
  ASSERT_TRUE(AcquireMountToken(store, kPrefix, Options("host-a", 1)).ok());
  auto reset = ResetMountToken(store, kPrefix, RetryOptions());
  ASSERT_TRUE(reset.ok());
  EXPECT_TRUE(*reset);
  EXPECT_FALSE(store.GetText(kKey));
  reset = ResetMountToken(store, kPrefix, RetryOptions());
  ASSERT_TRUE(reset.ok());
  EXPECT_FALSE(*reset);

  store.PutText(kKey, "\x7f garbage");
  reset = ResetMountToken(store, kPrefix, RetryOptions());
  ASSERT_TRUE(reset.ok());
  EXPECT_TRUE(*reset);
  EXPECT_FALSE(store.GetText(kKey));
}

TEST(MountTokenTest, AnUnreadableTokenStillMeansMounted) {
  TestObjectStore store;
  store.PutText(kKey, "usbd-mounted 1\nhost=h\n");  // cut short
  auto token = AcquireMountToken(store, kPrefix, Options("host-a", 1));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), EBUSY);
  EXPECT_TRUE(HasMessage(token.status(), "cannot be read"))
      << token.status().message();
  EXPECT_TRUE(HasMessage(token.status(), "--reset-mounted-flag"));
  auto read = ReadMountToken(store, kPrefix, RetryOptions());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), EIO);
  EXPECT_TRUE(HasMessage(read.status(), kKey));
}

TEST(MountTokenTest, ReadOnlyTakesNoTokenAndOnlyWarns) {
  TestObjectStore store;
  MountTokenOptions read_only = Options("host-r", 9);
  read_only.read_only = true;
  auto none = AcquireMountToken(store, kPrefix, read_only);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->held());
  EXPECT_EQ(store.puts, 0);

  auto writer = AcquireMountToken(store, kPrefix, Options("host-w", 1));
  ASSERT_TRUE(writer.ok());
  auto reader = AcquireMountToken(store, kPrefix, read_only);
  ASSERT_TRUE(reader.ok()) << "a writer's token only warns a reader";
  EXPECT_FALSE(reader->held());
  EXPECT_TRUE(ReleaseMountToken(store, kPrefix, *reader, RetryOptions()).ok());
  auto there = ReadMountToken(store, kPrefix, RetryOptions());
  EXPECT_EQ((*there)->id, writer->id) << "releasing nothing deletes nothing";
  EXPECT_EQ(store.puts, 2) << "the writer's token and s3backer's flag";
}

// Another usbd's PUT lands between ours and our read-back: we lost.
TEST(MountTokenTest, LosingTheRaceIsRefusedNamingTheWinner) {
  TestObjectStore store;
  MountToken winner{"host-w", 77, "2026-01-02T03:04:05Z", std::string(32, 'f')};
  store.after_put = [&](const std::string& key) {
    store.after_put = nullptr;
    store.PutText(key, FormatMountToken(winner));
  };
  MountTokenOptions options = Options("host-a", 1);
  options.settle = std::chrono::milliseconds(1);
  auto token = AcquireMountToken(store, kPrefix, options);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), EBUSY);
  EXPECT_TRUE(HasMessage(token.status(), "host host-w pid 77"))
      << token.status().message();
  EXPECT_EQ(store.GetText(kKey), FormatMountToken(winner));
}

TEST(MountTokenTest, ParseIsStrictWhereItMatters) {
  MountToken token{"h", 5, "2026-01-02T03:04:05Z", std::string(32, '0')};
  std::string text = FormatMountToken(token);
  auto parse = [](const std::string& t) {
    return ParseMountToken(
        std::span(reinterpret_cast<const uint8_t*>(t.data()), t.size()), kKey);
  };
  auto parsed =
      parse(testing::WithoutChecksum(text) + "x-future=1\nfuture=2\n");
  ASSERT_TRUE(parsed.ok()) << "unknown keys are ignored";
  EXPECT_EQ(parsed->Describe(), "host h pid 5 since 2026-01-02T03:04:05Z");
  auto newer = parse("usbd-mounted 2\n");
  ASSERT_FALSE(newer.ok());
  EXPECT_TRUE(HasMessage(newer.status(), "mount token format 2 is newer"));
  // Cut right after the token line, it reads as an older usbd's token,
  // which has no identity and is never taken over; any other cut is EIO.
  const size_t without_identity = text.find("machine=");
  MountIdentity self;
  self.machine = "m";
  auto never_running = [](uint64_t, uint64_t) { return false; };
  for (size_t length = 0; length < text.size(); ++length) {
    // Without its checksum line: a token of a usbd before checksums.
    if (length == testing::WithoutChecksum(text).size()) continue;
    auto cut = parse(text.substr(0, length));
    if (length == without_identity) {
      ASSERT_TRUE(cut.ok());
      EXPECT_EQ(JudgeMountToken(*cut, self, never_running),
                HolderKind::kOtherMachine);
      continue;
    }
    ASSERT_FALSE(cut.ok()) << length;
    EXPECT_TRUE(cut.status().code() == EIO || cut.status().corrupt());
  }
}

}  // namespace
}  // namespace usbd
