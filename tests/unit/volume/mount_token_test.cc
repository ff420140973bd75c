#include "volume/mount_token.h"

#include <gtest/gtest.h>

#include "test_store.h"

namespace usbd {
namespace {

using testing::TestObjectStore;

const std::string kPrefix = "vol1/";
const std::string kKey = "vol1/usbd-mounted";

MountTokenOptions Options(const std::string& host, uint64_t pid) {
  MountTokenOptions options;
  options.name = "mybucket/vol1";
  options.host = host;
  options.pid = pid;
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

TEST(MountTokenTest, DefaultsToThisHostAndProcess) {
  TestObjectStore store;
  MountTokenOptions options = Options("", 0);
  auto token = AcquireMountToken(store, kPrefix, options);
  ASSERT_TRUE(token.ok());
  EXPECT_FALSE(token->host.empty());
  EXPECT_EQ(token->pid, static_cast<uint64_t>(getpid()));
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
  EXPECT_EQ(store.puts, 1);
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
  auto parsed = parse(text + "x-future=1\nfuture=2\n");
  ASSERT_TRUE(parsed.ok()) << "unknown keys are ignored";
  EXPECT_EQ(parsed->Describe(), "host h pid 5 since 2026-01-02T03:04:05Z");
  auto newer = parse("usbd-mounted 2\n");
  ASSERT_FALSE(newer.ok());
  EXPECT_TRUE(HasMessage(newer.status(), "mount token format 2 is newer"));
  for (size_t length = 0; length < text.size(); ++length) {
    auto cut = parse(text.substr(0, length));
    ASSERT_FALSE(cut.ok()) << length;
    EXPECT_EQ(cut.status().code(), EIO);
  }
}

}  // namespace
}  // namespace usbd
