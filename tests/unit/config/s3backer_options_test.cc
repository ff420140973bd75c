// s3backer users' options and options files (config/arg_file.h,
// config/s3backer_options.h).
#include "config/s3backer_options.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/option_table.h"
#include "testing/options_test_util.h"

namespace usbd {
namespace {

using namespace usbd::options_test;      // NOLINT
using namespace usbd::options_internal;  // NOLINT

// The options file of s3backer's NBD documentation (README_nbd.md), as its
// users have it, with its comments; only the program name changes.
constexpr const char* kS3backerNbdExample = R"(# s3backer options
--size=500G
--blockSize=1M
--accessFile=/etc/s3backer/passwd
--listBlocks
--listBlocksThreads=50
--ssl
--encrypt
--passwordFile=/etc/s3backer/password

# cache
--blockCacheSize=20000
--blockCacheFile=/var/cache/s3backer/cache
--blockCacheWriteDelay=15000
--blockCacheThreads=4
--blockCacheRecoverDirtyBlocks
--blockCacheNumProtected=1000
--timeout=90
)";

TEST(S3backerOptionsFileTest, TheNbdExampleLoadsUnchanged) {
  TempFile file(kS3backerNbdExample);
  Parsed p = ParseWithFile(file, {"mybucket"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, 500 * kGiB);
  EXPECT_EQ(p.options.block_size, kMiB);
  EXPECT_EQ(p.options.access_file, "/etc/s3backer/passwd");
  EXPECT_TRUE(p.options.list_blocks);
  EXPECT_EQ(p.options.list_blocks_threads, 50u);
  EXPECT_TRUE(p.options.ssl);
  EXPECT_TRUE(p.options.encrypt);
  EXPECT_EQ(p.options.block_cache_size, 20000u);
  EXPECT_EQ(p.options.block_cache_file, "/var/cache/s3backer/cache");
  EXPECT_EQ(p.options.block_cache_threads, 4u);
  EXPECT_EQ(p.options.block_cache_num_protected, 1000u);
  EXPECT_EQ(p.options.bucket, "mybucket");
}

TEST(S3backerOptionsFileTest, ArgumentsGoInPlaceSoLaterFlagsWin) {
  TempFile file("--size=1M\n--memory\n");
  EXPECT_EQ(ParseWithFile(file, {"--size=2M", "m"}).options.size, 2 * kMiB)
      << "a flag after --configFile overrides the file";
  Parsed before = Parse({"--size=2M", "--configFile=" + file.path(), "m"});
  ASSERT_TRUE(before.ok()) << before.error();
  EXPECT_EQ(before.options.size, kMiB) << "the file overrides what precedes";
}

TEST(S3backerOptionsFileTest, PositionalArgumentsAndShortFlagAndNesting) {
  TempFile inner("  --size=4M  \n# comment\n\nm\n");
  TempFile outer("--memory\n--configFile=" + inner.path() + "\n");
  Parsed p = Parse({"-F", outer.path()});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, 4 * kMiB);
  EXPECT_EQ(p.options.bucket, "m");
}

TEST(S3backerOptionsFileTest, NestingIsBounded) {
  TempFile self("--memory\n");
  // A file that includes itself.
  std::ofstream(self.path()) << "--configFile=" << self.path() << "\n";
  Parsed p = Parse({"--configFile=" + self.path(), "m"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().find("nested more than"), std::string::npos) << p.error();
}

TEST(S3backerOptionsFileTest, AnIniFileIsStillAnIniFile) {
  TempFile ini("# usbd\nsize = 3M\nmemory = true\n");
  Parsed p = ParseWithFile(ini, {"m"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.size, 3 * kMiB);
  TempFile short_flag("size = 5M\nmemory = true\n");
  Parsed f = Parse({"-F", short_flag.path(), "m"});
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(f.options.size, 5 * kMiB);
}

TEST(S3backerOptionsTest, IgnoredOnesAreAcceptedEverywhere) {
  Parsed cli = Parse({"--memory", "--size=1M", "--md5CacheSize=0",
                      "--md5CacheTime=0", "--minWriteDelay=0",
                      "--blockCacheRecoverDirtyBlocks", "--no-vhost", "m"});
  ASSERT_TRUE(cli.ok()) << cli.error();
  EXPECT_EQ(cli.options.bucket, "m") << "a bare flag takes no argument";
  TempFile ini("memory = true\nsize = 1M\nmd5CacheSize = 0\n");
  EXPECT_TRUE(ParseWithFile(ini, {"m"}).ok())
      << ParseWithFile(ini, {"m"}).error();
}

TEST(S3backerOptionsTest, RefusedOnesSayWhy) {
  Parsed p = Parse({"--memory", "--size=1M", "--directIO", "m"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().find("--directIO: s3backer's option is not supported: "
                           "an option of s3backer's FUSE file"),
            std::string::npos)
      << p.error();
  TempFile ini("memory = true\nsize = 1M\nsharedDiskMode = true\n");
  Parsed f = ParseWithFile(ini, {"m"});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().find(":3: sharedDiskMode: s3backer's option"),
            std::string::npos)
      << f.error();
}

// s3backer's algorithm names: usbd's own means "on"; s3backer's deflate and
// CBC ciphers mean "on" and are recorded for a volume adopted from s3backer
// (stack/volume_session.h refuses them on usbd's volumes); anything else is
// refused with what usbd does instead (never silently something else).
TEST(S3backerOptionsTest, AlgorithmNamesOfCompressAndEncrypt) {
  Parsed zstd = Parse({"--memory", "--size=1M", "--compress=zstd", "m"});
  ASSERT_TRUE(zstd.ok()) << zstd.error();
  EXPECT_EQ(
      zstd.options.compress,
      Parse({"--memory", "--size=1M", "--compress", "m"}).options.compress);
  EXPECT_NE(zstd.options.compress, 0u);
  EXPECT_EQ(zstd.options.s3backer_compress, "");
  Parsed deflate = Parse({"--memory", "--size=1M", "--compress=Deflate", "m"});
  ASSERT_TRUE(deflate.ok()) << deflate.error();
  EXPECT_NE(deflate.options.compress, 0u);
  EXPECT_EQ(deflate.options.s3backer_compress, "deflate");
  EXPECT_EQ(
      Parse({"--memory", "--size=1M", "--compress=7", "m"}).options.compress,
      7u)
      << "a level still works";
  Parsed lz4 = Parse({"--memory", "--size=1M", "--compress=lz4", "m"});
  ASSERT_FALSE(lz4.ok());
  EXPECT_NE(lz4.error().find("usbd compresses with zstd"), std::string::npos)
      << lz4.error();

  Parsed gcm = Parse(
      {"--memory", "--size=1M", "--encrypt=AES-256-GCM", "--password=pw", "m"});
  ASSERT_TRUE(gcm.ok()) << gcm.error();
  EXPECT_TRUE(gcm.options.encrypt);
  EXPECT_EQ(gcm.options.s3backer_cipher, "");
  Parsed cbc = Parse({"--memory", "--size=1M", "--encrypt=aes-256-cbc",
                      "--keyLength=40", "--password=pw", "m"});
  ASSERT_TRUE(cbc.ok()) << cbc.error();
  EXPECT_TRUE(cbc.options.encrypt);
  EXPECT_EQ(cbc.options.s3backer_cipher, "AES-256-CBC");
  EXPECT_EQ(cbc.options.key_length, 40u);
  Parsed bf = Parse(
      {"--memory", "--size=1M", "--encrypt=BF-CBC", "--password=pw", "m"});
  ASSERT_FALSE(bf.ok());
  EXPECT_NE(bf.error().find("usbd encrypts with AES-256-GCM"),
            std::string::npos)
      << bf.error();
  TempFile file("--compress=deflate\n--memory\n--size=1M\n");
  Parsed in_file = ParseWithFile(file, {"m"});
  ASSERT_TRUE(in_file.ok()) << in_file.error();
  EXPECT_EQ(in_file.options.s3backer_compress, "deflate")
      << "the same in a file";
}

TEST(S3backerOptionsTest, SseKeyIdGoesWithAwsKms) {
  Parsed kms = Parse({"--sse=aws:kms", "--sse-key-id=k1", "bkt"});
  ASSERT_TRUE(kms.ok()) << kms.error();
  EXPECT_EQ(kms.options.sse_key_id, "k1");
  EXPECT_EQ(Parse({"--sse=AES256", "--sse-key-id=k1", "bkt"}).error(),
            "--sse-key-id needs --sse=aws:kms");
  EXPECT_FALSE(Parse({"--sse-key-id=k1", "bkt"}).ok());
}

// Every long option of s3backer's man page is a usbd option or has an
// answer: none is "unknown" or "not expected".
TEST(S3backerOptionsTest, EveryS3backerOptionHasAnAnswer) {
  const char* top = std::getenv("top_srcdir");  // set by make check
  std::ifstream list(std::string(top != nullptr ? top : ".") +
                     "/tests/data/s3backer-options.txt");
  ASSERT_TRUE(list) << "tests/data/s3backer-options.txt";
  std::set<std::string> names;
  std::string line;
  while (std::getline(list, line)) {
    if (!line.empty() && line[0] != '#') names.insert(line);
  }
  EXPECT_EQ(names.size(), 79u);
  int own = 0, answered = 0;
  for (const std::string& name : names) {
    if (FindOption(name) != nullptr) {
      ++own;
    } else if (FindS3backerOption(name) != nullptr) {
      ++answered;
    } else {
      ADD_FAILURE() << "s3backer's --" << name << " has no answer";
    }
  }
  EXPECT_EQ(own + answered, 79);
  // And no answer is for a name usbd implements itself.
  for (const S3backerOption& o : S3backerOptions()) {
    EXPECT_EQ(FindOption(o.name), nullptr) << o.name;
  }
}

}  // namespace
}  // namespace usbd

namespace usbd {
namespace {

using namespace usbd::options_internal;  // NOLINT

// The man page's S3BACKER OPTIONS list says, for each of s3backer's options,
// what the code does: a ".\" s3backer-option NAME CLASS" line before each
// entry, CLASS "same" or "differs" for usbd's own options, "ignored" or
// "refused" for the answered ones, with the answer's reason in the text.
TEST(S3backerOptionsTest, TheManPageListSaysWhatTheCodeDoes) {
  const char* top = std::getenv("top_srcdir");
  const std::string root = top != nullptr ? top : ".";
  std::ifstream list(root + "/tests/data/s3backer-options.txt");
  std::set<std::string> names;
  std::string line;
  while (std::getline(list, line)) {
    if (!line.empty() && line[0] != '#') names.insert(line);
  }
  std::ifstream man(root + "/man/usbd.8");
  ASSERT_TRUE(man) << "man/usbd.8";
  std::string page((std::istreambuf_iterator<char>(man)), {});
  std::set<std::string> listed;
  const std::string marker = ".\\\" s3backer-option ";
  for (size_t at = page.find(marker); at != std::string::npos;
       at = page.find(marker, at + 1)) {
    std::istringstream fields(page.substr(
        at + marker.size(), page.find('\n', at) - at - marker.size()));
    std::string name, kind;
    fields >> name >> kind;
    listed.insert(name);
    const S3backerOption* answered = FindS3backerOption(name);
    if (kind == "same" || kind == "differs") {
      EXPECT_NE(FindOption(name), nullptr) << name << " is not usbd's";
    } else if (kind == "ignored" || kind == "refused") {
      ASSERT_NE(answered, nullptr) << name << " has no answer in the code";
      EXPECT_EQ(answered->answer, kind == "ignored" ? S3backerAnswer::kIgnored
                                                    : S3backerAnswer::kRefused)
          << name;
      // The entry's text (troff escapes of '-' removed) starts with the
      // code's reason.
      std::string text = page.substr(page.find(".TP\n", at));
      text = text.substr(text.find('\n', 4) + 1);
      text = text.substr(0, text.find("\n.\\\""));
      std::string plain;
      for (size_t i = 0; i < text.size(); ++i) {
        if (text.compare(i, 2, "\\-") == 0) continue;  // "\-" is '-'
        plain += text[i] == '\n' ? ' ' : text[i];
      }
      std::string reason = answered->reason;
      EXPECT_NE(plain.find(reason.substr(1, 30)), std::string::npos)
          << name << ": '" << plain << "' does not give '" << reason << "'";
    } else {
      ADD_FAILURE() << name << ": unknown class " << kind;
    }
  }
  EXPECT_EQ(listed, names);
}

}  // namespace
}  // namespace usbd
