#include "config/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config.h"
#include "testing/options_test_util.h"

namespace usbd {
namespace {

using namespace usbd::options_test;  // NOLINT

// --- ParseSize / FormatSize -----------------------------------------------

TEST(ParseSizeTest, PlainNumberIsBytes) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
}

TEST(ParseSizeTest, SuffixesArePowersOf1024) {
  EXPECT_EQ(*ParseSize("4k"), 4 * kKiB);
  EXPECT_EQ(*ParseSize("256K"), 256 * kKiB);
  EXPECT_EQ(*ParseSize("3m"), 3 * kMiB);
  EXPECT_EQ(*ParseSize("1G"), kGiB);
  EXPECT_EQ(*ParseSize("2T"), 2 * kGiB * kKiB);
  EXPECT_EQ(*ParseSize("1P"), kGiB * kMiB);
  EXPECT_EQ(*ParseSize("1E"), kGiB * kGiB);
}

TEST(ParseSizeTest, AcceptsByteAndIecSpellings) {
  EXPECT_EQ(*ParseSize("4kb"), 4 * kKiB);
  EXPECT_EQ(*ParseSize("4KB"), 4 * kKiB);
  EXPECT_EQ(*ParseSize("4KiB"), 4 * kKiB);
  EXPECT_EQ(*ParseSize("512B"), 512u);
}

TEST(ParseSizeTest, RejectsUnknownSuffix) {
  Result<uint64_t> size = ParseSize("12x");
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), EINVAL);
  EXPECT_EQ(size.status().message(),
            "'12x' is not a size (use a number with an optional k, M, G, T "
            "suffix)");
}

TEST(ParseSizeTest, RejectsEmptyNegativeFractionAndSpaces) {
  for (const char* text : {"", "-1", "1.5G", " 1G", "1G ", "k", "+1", "1kk"}) {
    EXPECT_FALSE(ParseSize(text).ok()) << text;
  }
}

TEST(ParseSizeTest, RejectsOverflow) {
  EXPECT_FALSE(ParseSize("16E").ok());
  EXPECT_FALSE(ParseSize("99999999999999999999").ok());
  EXPECT_EQ(*ParseSize("18446744073709551615"), UINT64_MAX);
}

// --- defaults
// -------------------------------------------------------------------

TEST(OptionsTest, DefaultsWithOnlyRequiredArguments) {
  Parsed p = Parse({"--size=1G", "bucket"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(*p.action, ParseAction::kRun);
  EXPECT_EQ(p.options.bucket, "bucket");
  EXPECT_EQ(p.options.export_name, "bucket");
  EXPECT_EQ(p.options.prefix, "");
  EXPECT_EQ(p.options.size, kGiB);
  EXPECT_EQ(p.options.block_size, 256 * kKiB);
  EXPECT_FALSE(p.options.test);
  EXPECT_FALSE(p.options.memory);
  EXPECT_FALSE(p.options.read_only);
  EXPECT_FALSE(p.options.foreground);
  EXPECT_FALSE(p.options.debug);
  EXPECT_FALSE(p.options.quiet);
  EXPECT_EQ(p.options.nbd_threads, 8u);
  EXPECT_EQ(p.options.listen, DefaultListenAddress());
  EXPECT_EQ(p.options.target, "");
  EXPECT_EQ(p.out, "");
  // The object-store options, s3backer's defaults.
  EXPECT_EQ(p.options.store(), StoreKind::kS3);
  EXPECT_FALSE(p.options.http_store);
  EXPECT_EQ(p.options.base_url, "https://s3.amazonaws.com/");
  EXPECT_EQ(p.options.region, "us-east-1");
  EXPECT_FALSE(p.options.vhost);
  EXPECT_EQ(p.options.access_type, "private");
  EXPECT_EQ(p.options.auth_version, "aws4");
  EXPECT_EQ(p.options.storage_class, "");
  EXPECT_EQ(p.options.sse, "");
  EXPECT_FALSE(p.options.block_hash_prefix);
  EXPECT_FALSE(p.options.list_blocks);
  EXPECT_EQ(p.options.list_blocks_threads, 4u);
  EXPECT_EQ(p.options.timeout_seconds, 30u);
  EXPECT_EQ(p.options.initial_retry_pause_ms, 200u);
  EXPECT_EQ(p.options.max_retry_pause_ms, 30000u);
  EXPECT_EQ(p.options.max_upload_bytes_per_sec, 0u);
  EXPECT_EQ(p.options.max_download_bytes_per_sec, 0u);
  EXPECT_FALSE(p.options.insecure);
  EXPECT_EQ(p.options.ca_file, "");
  EXPECT_FALSE(p.options.force);
  EXPECT_FALSE(p.options.erase);
  EXPECT_FALSE(p.options.reset_mounted_flag);
  EXPECT_FALSE(p.options.debug_http);
  EXPECT_EQ(p.options.access_id, "");
  EXPECT_EQ(p.options.access_key, "");
}

TEST(OptionsTest, DefaultListenUsesXdgRuntimeDir) {
  const char* old = std::getenv("XDG_RUNTIME_DIR");
  std::string saved = old ? old : "";
  setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
  EXPECT_EQ(DefaultListenAddress(), "unix:/run/user/1234/usbd.sock");
  unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(DefaultListenAddress(),
            "unix:/tmp/usbd-" + std::to_string(getuid()) + ".sock");
  if (old) setenv("XDG_RUNTIME_DIR", saved.c_str(), 1);
}

// --- each option from argv --------------------------------------------------

TEST(OptionsTest, TestFlagFromArgv) {
  Parsed p = Parse({"--test", "--size=1G", "/var/tmp/store"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p.options.test);
}

TEST(OptionsTest, MemoryFlagFromArgv) {
  Parsed p = Parse({"--memory", "--size=1G", "scratch"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p.options.memory);
}

TEST(OptionsTest, PrefixFromArgv) {
  Parsed p = Parse({"--prefix=vol1-", "--size=1G", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.prefix, "vol1-");
}

TEST(OptionsTest, SizeFromArgvWithSpaceSeparatedValue) {
  Parsed p = Parse({"--size", "2T", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, 2 * kGiB * kKiB);
}

TEST(OptionsTest, BlockSizeFromArgv) {
  Parsed p = Parse({"--blockSize=1M", "--size=1G", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.block_size, kMiB);
}

TEST(OptionsTest, BlockSizeLimitsAreInclusive) {
  EXPECT_TRUE(Parse({"--blockSize=512", "--size=1M", "bkt"}).ok());
  EXPECT_TRUE(Parse({"--blockSize=32M", "--size=32M", "bkt"}).ok());
}

TEST(OptionsTest, ReadOnlyFromArgv) {
  Parsed p = Parse({"--readOnly", "--size=1G", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p.options.read_only);
}

TEST(OptionsTest, ListenUnixFromArgv) {
  Parsed p = Parse({"--listen=unix:/run/x.sock", "--size=1G", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.listen, "unix:/run/x.sock");
}

TEST(OptionsTest, ListenTcpFromArgv) {
  EXPECT_EQ(Parse({"--listen=tcp:localhost:10809", "--size=1G", "bkt"})
                .options.listen,
            "tcp:localhost:10809");
  EXPECT_EQ(
      Parse({"--listen=tcp:[::1]:10809", "--size=1G", "bkt"}).options.listen,
      "tcp:[::1]:10809");
}

TEST(OptionsTest, ListenRejectsMalformedAddresses) {
  for (const char* addr : {"foo", "unix:", "tcp:host", "tcp::80", "tcp:h:0",
                           "tcp:h:65536", "tcp:h:x", "tcp:[::1:80"}) {
    Parsed p = Parse({std::string("--listen=") + addr, "--size=1G", "bkt"});
    ASSERT_FALSE(p.ok()) << addr;
    EXPECT_EQ(p.error().rfind("--listen: '", 0), 0u) << p.error();
  }
}

TEST(OptionsTest, ListenRejectsSocketPathTooLongForSockaddr) {
  Parsed p =
      Parse({"--listen=unix:/" + std::string(200, 'x'), "--size=1G", "bkt"});
  EXPECT_FALSE(p.ok());
}

TEST(OptionsTest, ForegroundShortAndLong) {
  EXPECT_TRUE(Parse({"-f", "--size=1G", "bkt"}).options.foreground);
  EXPECT_TRUE(Parse({"--foreground", "--size=1G", "bkt"}).options.foreground);
}

TEST(OptionsTest, NbdThreadsFromArgv) {
  Parsed p = Parse({"--nbdThreads=32", "--size=1G", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.nbd_threads, 32u);
}

TEST(OptionsTest, NbdThreadsOutOfRange) {
  EXPECT_EQ(Parse({"--nbdThreads=0", "--size=1G", "bkt"}).error(),
            "--nbdThreads: '0' is out of range (1 to 256)");
  EXPECT_FALSE(Parse({"--nbdThreads=257", "--size=1G", "bkt"}).ok());
  EXPECT_FALSE(Parse({"--nbdThreads=-1", "--size=1G", "bkt"}).ok());
  EXPECT_FALSE(Parse({"--nbdThreads=4x", "--size=1G", "bkt"}).ok());
}

TEST(OptionsTest, DebugFromArgv) {
  EXPECT_TRUE(Parse({"--debug", "--size=1G", "bkt"}).options.debug);
}

TEST(OptionsTest, QuietFromArgv) {
  EXPECT_TRUE(Parse({"--quiet", "--size=1G", "bkt"}).options.quiet);
}

TEST(OptionsTest, FlagTakesAnExplicitBooleanOnArgv) {
  Parsed p = Parse({"--readOnly=no", "--size=1G", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_FALSE(p.options.read_only);
  EXPECT_EQ(Parse({"--readOnly=maybe", "--size=1G", "bkt"}).error(),
            "--readOnly: 'maybe' is not a boolean (use true or false)");
}

TEST(OptionsTest, RepeatedOptionTakesTheLast) {
  Parsed p = Parse({"--size=1G", "--size=2G", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, 2 * kGiB);
}

// --- errors on argv
// -------------------------------------------------------------

TEST(OptionsTest, BadSizeNamesOptionAndValue) {
  Parsed p = Parse({"--size=12x", "bkt"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.action.status().code(), EINVAL);
  EXPECT_EQ(p.error(),
            "--size: '12x' is not a size (use a number with an optional k, M, "
            "G, T suffix)");
}

TEST(OptionsTest, SizeZeroIsAnError) {
  EXPECT_EQ(Parse({"--size=0", "bkt"}).error(),
            "--size: '0' must be greater than zero");
}

TEST(OptionsTest, SizeIsRequiredWithMemory) {
  EXPECT_EQ(Parse({"--memory", "m"}).error(), "--size is required");
}

TEST(OptionsTest, SizeIsOptionalWithTest) {
  // The directory's volume metadata records it; creating one needs it,
  // which only the directory can tell (volume/metadata.h).
  Parsed p = Parse({"--test", "/d"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, 0u);
}

TEST(OptionsTest, SizeIsOptionalForObjectStores) {
  // Later runs read it from the volume's metadata.
  Parsed p = Parse({"bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, 0u);
  EXPECT_TRUE(Parse({"--httpStore", "--baseURL=http://h/", "b"}).ok());
}

TEST(OptionsTest, BlockSizeGivenIsRecorded) {
  EXPECT_FALSE(Parse({"bkt"}).options.block_size_given);
  EXPECT_TRUE(Parse({"--blockSize=1M", "bkt"}).options.block_size_given);
}

TEST(OptionsTest, SizeMustBeMultipleOfBlockSize) {
  EXPECT_EQ(Parse({"--size=1000", "bkt"}).error(),
            "--size (1000) is not a multiple of --blockSize (256k)");
}

TEST(OptionsTest, BlockSizeMustBePowerOfTwo) {
  EXPECT_EQ(Parse({"--blockSize=300k", "--size=3000k", "bkt"}).error(),
            "--blockSize: '300k' is not a power of two");
}

TEST(OptionsTest, BlockSizeOutOfRange) {
  EXPECT_EQ(Parse({"--blockSize=256", "--size=1M", "bkt"}).error(),
            "--blockSize: '256' is out of range (512 to 32M)");
  EXPECT_EQ(Parse({"--blockSize=64M", "--size=1G", "bkt"}).error(),
            "--blockSize: '64M' is out of range (512 to 32M)");
}

TEST(OptionsTest, MissingBucket) {
  Parsed p = Parse({"--size=1G"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().rfind("missing BUCKET", 0), 0u) << p.error();
}

TEST(OptionsTest, EmptyBucket) { EXPECT_FALSE(Parse({"--size=1G", ""}).ok()); }

TEST(OptionsTest, TestAndMemoryConflict) {
  EXPECT_EQ(Parse({"--test", "--memory", "--size=1G", "bkt"}).error(),
            "--test and --memory cannot be used together");
}

TEST(OptionsTest, DebugAndQuietConflict) {
  EXPECT_EQ(Parse({"--debug", "--quiet", "--size=1G", "bkt"}).error(),
            "--debug and --quiet cannot be used together");
}

TEST(OptionsTest, TargetNeedsNbd) {
  EXPECT_EQ(Parse({"--size=1G", "bkt", "/dev/nbd0"}).error(),
            "TARGET (/dev/nbdX) requires --nbd");
  Parsed p = Parse({"--nbd", "--size=1G", "bkt", "/dev/nbd0"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.target, "/dev/nbd0");
}

TEST(OptionsTest, NbdBlockSizeIsZeroOrASectorSize) {
  EXPECT_TRUE(Parse({"--nbdBlockSize=0", "--size=1G", "bkt"}).ok());
  EXPECT_TRUE(Parse({"--nbdBlockSize=4k", "--size=1G", "bkt"}).ok());
  EXPECT_NE(Parse({"--nbdBlockSize=8k", "--size=1G", "bkt"})
                .error()
                .find("power of two from 512 to 4096"),
            std::string::npos);
}

TEST(OptionsTest, UnknownOptionIsAnErrorNotAnException) {
  Parsed p = Parse({"--bogus", "--size=1G", "bkt"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.action.status().code(), EINVAL);
  EXPECT_NE(p.error().find("--bogus"), std::string::npos) << p.error();
}

TEST(OptionsTest, MissingValueIsAnError) {
  Parsed p = Parse({"bkt", "--size"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().find("--size"), std::string::npos) << p.error();
}

TEST(OptionsTest, ThirdPositionalIsAnError) {
  EXPECT_FALSE(Parse({"--size=1G", "bkt", "/dev/nbd0", "extra"}).ok());
}

TEST(OptionsTest, LeavesOptionsUntouchedOnError) {
  const char* argv[] = {"usbd", "--size=12x", "bkt"};
  std::ostringstream out;
  Options options;
  options.bucket = "unchanged";
  EXPECT_FALSE(ParseOptions(3, argv, out, &options).ok());
  EXPECT_EQ(options.bucket, "unchanged");
}

// --- BUCKET[/PREFIX]
// -------------------------------------------------------------

TEST(BucketTest, SlashSplitsBucketAndPrefixLikeS3backer) {
  Parsed p = Parse({"--size=1G", "mybucket/vol1"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.bucket, "mybucket");
  EXPECT_EQ(p.options.prefix, "vol1/");
  EXPECT_EQ(p.options.export_name, "mybucket/vol1");
}

TEST(BucketTest, NestedPrefixSplitsAtFirstSlash) {
  Parsed p = Parse({"--size=1G", "bkt/a/c"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.bucket, "bkt");
  EXPECT_EQ(p.options.prefix, "a/c/");
}

TEST(BucketTest, PrefixInBucketAndPrefixOptionConflict) {
  Parsed p = Parse({"--prefix=x", "--size=1G", "bkt/vol1"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().find("--prefix"), std::string::npos) << p.error();
}

TEST(BucketTest, RejectsEmptyOrSlashyParts) {
  for (const char* arg : {"/vol", "bkt/", "bkt//vol", "bkt/vol/"}) {
    EXPECT_FALSE(Parse({"--size=1G", arg}).ok()) << arg;
  }
}

TEST(BucketTest, TestModeKeepsWholePathAsDirectory) {
  Parsed p = Parse({"--test", "--size=1G", "/var/tmp/usbd-store"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.bucket, "/var/tmp/usbd-store");
  EXPECT_EQ(p.options.prefix, "");
  EXPECT_EQ(p.options.export_name, "/var/tmp/usbd-store");
}

TEST(BucketTest, TestModeTakesPrefixFromOptionOnly) {
  Parsed p = Parse({"--test", "--prefix=vol1-", "--size=1G", "/d/x"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.bucket, "/d/x");
  EXPECT_EQ(p.options.prefix, "vol1-");
}

TEST(BucketTest, TestModeRejectsSlashInPrefix) {
  EXPECT_FALSE(Parse({"--test", "--prefix=a/b", "--size=1G", "/d"}).ok());
}

TEST(BucketTest, MemoryModeBucketIsJustAName) {
  Parsed p = Parse({"--memory", "--size=1G", "scratch/disk"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.bucket, "scratch/disk");
  EXPECT_EQ(p.options.prefix, "");
}

// --- the options file
// --------------------------------------------------------------

TEST(OptionsFileTest, SetsEveryKindOfValue) {
  TempFile file(
      "# a comment\n"
      "; another\n"
      "size = 2G\n"
      "blockSize = 1M\n"
      "readOnly = true\n"
      "prefix = vol-\n"
      "listen = tcp:127.0.0.1:10809\n"
      "nbdThreads = 4\n"
      "foreground = yes\n"
      "debug = on\n");
  Parsed p = ParseWithFile(file, {"bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, 2 * kGiB);
  EXPECT_EQ(p.options.block_size, kMiB);
  EXPECT_TRUE(p.options.read_only);
  EXPECT_EQ(p.options.prefix, "vol-");
  EXPECT_EQ(p.options.listen, "tcp:127.0.0.1:10809");
  EXPECT_EQ(p.options.nbd_threads, 4u);
  EXPECT_TRUE(p.options.foreground);
  EXPECT_TRUE(p.options.debug);
}

TEST(OptionsFileTest, ConfigFileOptionIsRecorded) {
  TempFile file("size = 1G\n");
  Parsed p = ParseWithFile(file, {"bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.config_file, file.path());
}

TEST(OptionsFileTest, BooleanSpellings) {
  for (const char* yes : {"true", "yes", "1", "on", "TRUE", "Yes"}) {
    TempFile file(std::string("size = 1G\nreadOnly = ") + yes + "\n");
    EXPECT_TRUE(ParseWithFile(file, {"bkt"}).options.read_only) << yes;
  }
  for (const char* no : {"false", "no", "0", "off"}) {
    TempFile file(std::string("size = 1G\nreadOnly = ") + no + "\n");
    Parsed p = ParseWithFile(file, {"bkt"});
    ASSERT_TRUE(p.ok()) << no;
    EXPECT_FALSE(p.options.read_only) << no;
  }
}

TEST(OptionsFileTest, BadBooleanNamesFileLineAndKey) {
  TempFile file("size = 1G\nreadOnly = maybe\n");
  EXPECT_EQ(ParseWithFile(file, {"bkt"}).error(),
            file.path() +
                ":2: readOnly: 'maybe' is not a boolean (use true or false)");
}

TEST(OptionsFileTest, UsbdSectionIsAccepted) {
  TempFile file("[usbd]\nsize = 1G\n");
  Parsed p = ParseWithFile(file, {"bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, kGiB);
}

TEST(OptionsFileTest, OtherSectionIsAnError) {
  TempFile file("size = 1G\n[other]\nreadOnly = true\n");
  EXPECT_EQ(ParseWithFile(file, {"bkt"}).error(),
            file.path() + ":3: unknown section '[other]' (use [usbd] or none)");
}

TEST(OptionsFileTest, UnknownKeyNamesFileAndLine) {
  TempFile file("size = 1G\n\nblockSiz = 1M\n");
  EXPECT_EQ(ParseWithFile(file, {"bkt"}).error(),
            file.path() + ":3: unknown option 'blockSiz'");
}

TEST(OptionsFileTest, WrongCaseKeySuggestsTheRightOne) {
  TempFile file("blocksize = 1M\n");
  EXPECT_EQ(ParseWithFile(file, {"--size=1G", "bkt"}).error(),
            file.path() +
                ":1: unknown option 'blocksize' (did you mean 'blockSize'?)");
}

TEST(OptionsFileTest, BadSizeNamesFileLineAndKey) {
  TempFile file("# volume\nsize = 12x\n");
  EXPECT_EQ(ParseWithFile(file, {"bkt"}).error(),
            file.path() +
                ":2: size: '12x' is not a size (use a number with an optional "
                "k, M, G, T suffix)");
}

TEST(OptionsFileTest, BlockSizeNotPowerOfTwoNamesFileLine) {
  TempFile file("size = 3000k\nblockSize = 300k\n");
  EXPECT_EQ(ParseWithFile(file, {"bkt"}).error(),
            file.path() + ":2: blockSize: '300k' is not a power of two");
}

TEST(OptionsFileTest, CannotSetCommandLineOnlyOptions) {
  for (const char* key : {"configFile", "help", "version", "force", "erase",
                          "reset-mounted-flag"}) {
    TempFile file(std::string(key) + " = x\n");
    EXPECT_EQ(
        ParseWithFile(file, {"--size=1G", "bkt"}).error(),
        file.path() + ":1: '" + key + "' cannot be set in an options file");
  }
}

TEST(OptionsFileTest, DuplicateKeyIsAnError) {
  TempFile file("size = 1G\nsize = 2G\n");
  EXPECT_EQ(ParseWithFile(file, {"bkt"}).error(),
            file.path() + ":2: 'size' is already set on line 1");
}

TEST(OptionsFileTest, SyntaxErrorNamesLine) {
  TempFile file("size = 1G\nthis is not a setting\n");
  EXPECT_EQ(ParseWithFile(file, {"bkt"}).error(),
            file.path() + ":2: expected 'key = value' or '[usbd]'");
}

TEST(OptionsFileTest, OverlongLineIsAnError) {
  TempFile file("size = 1G\nprefix = " + std::string(300, 'p') + "\n");
  Parsed p = ParseWithFile(file, {"bkt"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().rfind(file.path() + ":2: line longer than", 0), 0u)
      << p.error();
}

TEST(OptionsFileTest, MissingFileIsAnError) {
  Parsed p = Parse({"--configFile=/nonexistent/usbd.conf", "--size=1G", "bkt"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.action.status().code(), ENOENT);
  EXPECT_NE(p.error().find("/nonexistent/usbd.conf"), std::string::npos);
}

TEST(OptionsFileTest, QuotesAroundValueAreRemoved) {
  TempFile file("size = 1G\nprefix = \"vol 1/\"\n");
  EXPECT_EQ(ParseWithFile(file, {"bkt"}).options.prefix, "vol 1/");
}

TEST(OptionsFileTest, ArgvOverridesFileRegardlessOfOrder) {
  TempFile file("size = 1G\nnbdThreads = 4\nreadOnly = true\n");
  Parsed p = Parse(
      {"--size=2G", "--readOnly=false", "--configFile=" + file.path(), "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, 2 * kGiB);
  EXPECT_FALSE(p.options.read_only);
  EXPECT_EQ(p.options.nbd_threads, 4u);  // not on argv: the file's value
}

TEST(OptionsFileTest, FilePrefixConflictsWithBucketSlashPrefix) {
  TempFile file("size = 1G\nprefix = x\n");
  EXPECT_FALSE(ParseWithFile(file, {"bkt/vol"}).ok());
}

}  // namespace
}  // namespace usbd

namespace usbd {
namespace {

// CLI11 2.1.2 took the argument after "--name=" as its value.
TEST(EmptyValueTest, NameEqualsNothingIsTheEmptyValue) {
  Parsed p = Parse({"--test", "--prefix=", "--readOnly", "dir"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.prefix, "");
  EXPECT_TRUE(p.options.read_only);
  EXPECT_EQ(p.options.export_name, "dir");

  p = Parse({"--accessId=", "--readOnly", "bucket"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.access_id, "");
  EXPECT_TRUE(p.options.read_only);
}

TEST(EmptyValueTest, EmptyIsRefusedWhereItMeansNothing) {
  Parsed p = Parse({"--memory", "--size=", "--readOnly", "m"});
  EXPECT_EQ(p.error(),
            "--size: '' is not a size (use a number with an optional k, M, "
            "G, T suffix)");
  p = Parse({"--memory", "--size=1M", "--readOnly=", "m"});
  EXPECT_EQ(p.error(),
            "--readOnly=: empty value (give --readOnly alone, or with =yes "
            "or =no)");
  p = Parse({"--memory", "--size=1M", "--compress=", "m"});
  EXPECT_FALSE(p.ok());
}

TEST(EmptyValueTest, AfterDoubleDashNothingIsRewritten) {
  Parsed p = Parse({"--memory", "--size=1M", "--", "--prefix="});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.export_name, "--prefix=");
}

}  // namespace
}  // namespace usbd
