// ParseOptions for the object stores (issue 3): store selection, S3, HTTP,
// credentials, network, retry, actions, and scrubbing secrets from argv.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "config/options.h"
#include "testing/options_test_util.h"

namespace usbd {
namespace {

using namespace usbd::options_test;  // NOLINT

constexpr const char* kSecret = "S3CR3T-never-in-messages";

// --- store selection ------------------------------------------------------

TEST(OptionsStoreTest, DefaultIsS3) {
  EXPECT_EQ(Parse({"bkt"}).options.store(), StoreKind::kS3);
}

TEST(OptionsStoreTest, TestMemoryAndHttpSelectTheirStores) {
  EXPECT_EQ(Parse({"--test", "--size=1G", "/d"}).options.store(),
            StoreKind::kDirectory);
  EXPECT_EQ(Parse({"--memory", "--size=1G", "m"}).options.store(),
            StoreKind::kMemory);
  EXPECT_EQ(Parse({"--httpStore", "--baseURL=http://h/", "b"}).options.store(),
            StoreKind::kHttp);
}

TEST(OptionsStoreTest, HttpStoreConflictsWithTestAndMemory) {
  EXPECT_EQ(Parse({"--test", "--httpStore", "--size=1G", "/d"}).error(),
            "--test and --httpStore cannot be used together");
  EXPECT_EQ(Parse({"--memory", "--httpStore", "--size=1G", "m"}).error(),
            "--memory and --httpStore cannot be used together");
}

TEST(OptionsStoreTest, HttpStoreNeedsBaseUrl) {
  EXPECT_EQ(Parse({"--httpStore", "b"}).error(),
            "--httpStore needs --baseURL (the server's URL, e.g. "
            "http://localhost:8080/dav/)");
}

TEST(OptionsStoreTest, HttpStoreBaseUrlFromOptionsFile) {
  TempFile file("httpStore = true\nbaseURL = http://h:8080/dav/\n");
  Parsed p = ParseWithFile(file, {"b"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.store(), StoreKind::kHttp);
  EXPECT_EQ(p.options.base_url, "http://h:8080/dav/");
}

TEST(OptionsStoreTest, HttpStoreBucketIsAPathComponentUnderBaseUrl) {
  Parsed p = Parse({"--httpStore", "--baseURL=http://h:8080/dav", "Vol_1/d"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.base_url, "http://h:8080/dav/");
  EXPECT_EQ(p.options.bucket, "Vol_1");
  EXPECT_EQ(p.options.prefix, "d/");
}

TEST(OptionsStoreTest, HttpStoreRejectsBucketThatIsNotAPathComponent) {
  for (const char* bucket : {"..", "a%20b", "a?b"}) {
    Parsed p = Parse({"--httpStore", "--baseURL=http://h/", bucket});
    ASSERT_FALSE(p.ok()) << bucket;
    EXPECT_NE(p.error().find("with --httpStore, one path component"),
              std::string::npos)
        << p.error();
  }
}

TEST(OptionsStoreTest, HttpHeaderFromArgv) {
  Parsed p = Parse({"--httpStore", "--baseURL=http://h/",
                    "--httpHeader=Authorization: Bearer t", "b"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.http_header, "Authorization: Bearer t");
}

TEST(OptionsStoreTest, MalformedHttpHeaderIsNotRepeated) {
  Parsed p = Parse({"--httpStore", "--baseURL=http://h/",
                    std::string("--httpHeader=Bearer ") + kSecret, "b"});
  EXPECT_EQ(p.error(),
            "--httpHeader: expected 'Name: value' (a header name, a colon, "
            "then the value on one line)");
}

TEST(OptionsStoreTest, HttpHeaderAndHeaderFileConflict) {
  EXPECT_EQ(Parse({"--httpStore", "--baseURL=http://h/", "--httpHeader=A: b",
                   "--httpHeaderFile=/f", "b"})
                .error(),
            "--httpHeader and --httpHeaderFile cannot be used together");
}

TEST(OptionsStoreTest, HttpHeaderOnlyAppliesToHttpStore) {
  EXPECT_EQ(Parse({"--httpHeader=A: b", "bkt"}).error(),
            "--httpHeader only applies to the HTTP store (--httpStore)");
}

// --- S3 endpoint ----------------------------------------------------------

TEST(OptionsS3Test, BaseUrlGetsATrailingSlash) {
  EXPECT_EQ(Parse({"--baseURL=http://127.0.0.1:9000", "bkt"}).options.base_url,
            "http://127.0.0.1:9000/");
}

TEST(OptionsS3Test, BaseUrlMustBeHttpOrHttps) {
  for (const char* url : {"ftp://h/", "http://", "s3.amazonaws.com",
                          "http://u:p@h/", "http://h/a b", "http://h/?x"}) {
    Parsed p = Parse({std::string("--baseURL=") + url, "bkt"});
    ASSERT_FALSE(p.ok()) << url;
    EXPECT_EQ(p.error().rfind("--baseURL: '", 0), 0u) << p.error();
  }
}

TEST(OptionsS3Test, RegionSelectsTheRegionalEndpoint) {
  Parsed p = Parse({"--region=eu-west-1", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.region, "eu-west-1");
  EXPECT_EQ(p.options.base_url, "https://s3.eu-west-1.amazonaws.com/");
}

TEST(OptionsS3Test, RegionKeepsAGivenBaseUrl) {
  Parsed p = Parse({"--region=garage", "--baseURL=http://h:3900/", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.base_url, "http://h:3900/");
}

TEST(OptionsS3Test, RegionMustBeAName) {
  EXPECT_EQ(Parse({"--region=eu west", "bkt"}).error(),
            "--region: 'eu west' is not a region name (e.g. eu-west-1)");
}

TEST(OptionsS3Test, SslIsHttpsAndConflictsOnlyWithHttpBaseUrl) {
  Parsed p = Parse({"--ssl", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.base_url, "https://s3.amazonaws.com/");
  EXPECT_TRUE(Parse({"--ssl", "--baseURL=https://h/", "bkt"}).ok());
  EXPECT_EQ(Parse({"--ssl", "--baseURL=http://h/", "bkt"}).error(),
            "--ssl conflicts with the non-https --baseURL 'http://h/'");
}

TEST(OptionsS3Test, VhostFromArgv) {
  EXPECT_TRUE(Parse({"--vhost", "bkt"}).options.vhost);
}

TEST(OptionsS3Test, ObjectHeaders) {
  Parsed p = Parse({"--storageClass=STANDARD_IA", "--sse=AES256",
                    "--accessType=public-read", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.storage_class, "STANDARD_IA");
  EXPECT_EQ(p.options.sse, "AES256");
  EXPECT_EQ(p.options.access_type, "public-read");
  // (CLI11 reads "--accessType=" as "--accessType" followed by a value.)
  EXPECT_EQ(Parse({"--accessType", "", "bkt"}).options.access_type, "");
}

TEST(OptionsS3Test, BadObjectHeadersAreErrors) {
  EXPECT_EQ(Parse({"--sse=DES", "bkt"}).error(),
            "--sse: 'DES' is not supported (use AES256 or aws:kms)");
  EXPECT_EQ(Parse({"--accessType=secret", "bkt"})
                .error()
                .rfind("--accessType: 'secret' is not a canned ACL", 0),
            0u);
  EXPECT_EQ(Parse({"--storageClass=A\r\nX: y", "bkt"})
                .error()
                .rfind("--storageClass: ", 0),
            0u);
}

TEST(OptionsS3Test, AuthVersionOnlyAws4) {
  EXPECT_TRUE(Parse({"--authVersion=aws4", "bkt"}).ok());
  EXPECT_EQ(Parse({"--authVersion=aws2", "bkt"}).error(),
            "--authVersion: 'aws2' is not supported (only aws4, AWS Signature "
            "Version 4)");
}

TEST(OptionsS3Test, BlockHashPrefixAndListBlocks) {
  Parsed p = Parse(
      {"--blockHashPrefix", "--listBlocks", "--listBlocksThreads=16", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p.options.block_hash_prefix);
  EXPECT_TRUE(p.options.list_blocks);
  EXPECT_EQ(p.options.list_blocks_threads, 16u);
  EXPECT_EQ(Parse({"--listBlocksThreads=0", "bkt"}).error(),
            "--listBlocksThreads: '0' is out of range (1 to 64)");
}

TEST(OptionsS3Test, ListBlocksOnlyAppliesToS3) {
  EXPECT_EQ(Parse({"--httpStore", "--baseURL=http://h/", "--listBlocks", "b"})
                .error(),
            "--listBlocks only applies to the S3 store");
}

TEST(OptionsS3Test, BucketNameMustBeValidForS3) {
  for (const std::string& bucket :
       std::vector<std::string>{"ab", "My_Bucket", ".abc", "abc-", "a..b",
                                "UPPER", std::string(64, 'a')}) {
    Parsed p = Parse({bucket});
    ASSERT_FALSE(p.ok()) << bucket;
    EXPECT_EQ(p.error(),
              "BUCKET '" + bucket +
                  "' is not a valid S3 bucket name (3 to 63 lowercase "
                  "letters, digits, '.' and '-', starting and ending with a "
                  "letter or digit)");
  }
  EXPECT_TRUE(Parse({"my.bucket-1"}).ok());
}

// --- network and retry -------------------------------------------------------

TEST(OptionsNetworkTest, CacertMustBeReadable) {
  TempFile ca("-----BEGIN CERTIFICATE-----\n");
  Parsed p = Parse({"--cacert=" + ca.path(), "--insecure", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.ca_file, ca.path());
  EXPECT_TRUE(p.options.insecure);
  EXPECT_EQ(Parse({"--cacert=/nonexistent/ca.pem", "bkt"}).error(),
            "--cacert: cannot read '/nonexistent/ca.pem': No such file or "
            "directory");
}

TEST(OptionsNetworkTest, TimeoutInSeconds) {
  EXPECT_EQ(Parse({"--timeout=90", "bkt"}).options.timeout_seconds, 90u);
  EXPECT_EQ(Parse({"--timeout=0", "bkt"}).error(),
            "--timeout: '0' is out of range (1 to 3600)");
}

TEST(OptionsNetworkTest, SpeedsAreBitsPerSecondStoredAsBytes) {
  Parsed p =
      Parse({"--maxUploadSpeed=10m", "--maxDownloadSpeed=80000000", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.max_upload_bytes_per_sec, 10u * kMiB / 8);
  EXPECT_EQ(p.options.max_download_bytes_per_sec, 10000000u);
}

TEST(OptionsNetworkTest, SpeedRoundsUpToWholeBytes) {
  Parsed p = Parse({"--blockSize=512", "--maxUploadSpeed=4099", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.max_upload_bytes_per_sec, 513u);
  EXPECT_EQ(
      Parse({"--maxUploadSpeed=0", "bkt"}).options.max_upload_bytes_per_sec,
      0u);
}

TEST(OptionsNetworkTest, SpeedTooSlowForOneBlockPerTimeout) {
  EXPECT_EQ(Parse({"--maxUploadSpeed=64k", "bkt"}).error(),
            "--timeout (30 s) is too short to move one block (256k) at "
            "--maxUploadSpeed (8192 bytes/s)");
}

TEST(OptionsNetworkTest, SpeedTooSlowForOneBlockPerRetryBudget) {
  EXPECT_EQ(
      Parse({"--maxDownloadSpeed=8m", "--maxRetryPause=200", "bkt"}).error(),
      "--maxRetryPause (200 ms) is too short to move one block (256k) "
      "at --maxDownloadSpeed (1048576 bytes/s)");
  EXPECT_TRUE(
      Parse({"--maxDownloadSpeed=8m", "--maxRetryPause=0", "bkt"}).ok());
}

TEST(OptionsRetryTest, PausesInMilliseconds) {
  Parsed p = Parse({"--initialRetryPause=50", "--maxRetryPause=5000", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.initial_retry_pause_ms, 50u);
  EXPECT_EQ(p.options.max_retry_pause_ms, 5000u);
}

TEST(OptionsRetryTest, BudgetBelowFirstPauseIsAnErrorUnlessZero) {
  EXPECT_EQ(
      Parse({"--initialRetryPause=500", "--maxRetryPause=100", "bkt"}).error(),
      "--maxRetryPause (100 ms) must be at least --initialRetryPause "
      "(500 ms), or 0: no retries");
  EXPECT_TRUE(Parse({"--maxRetryPause=0", "bkt"}).ok());
}

TEST(OptionsRetryTest, RemoteOptionsDoNotApplyToLocalStores) {
  EXPECT_EQ(Parse({"--memory", "--size=1G", "--timeout=5", "m"}).error(),
            "--timeout only applies to the S3 and HTTP stores");
}

// --- credentials -------------------------------------------------------------

TEST(OptionsCredentialsTest, StoredAsGiven) {
  Parsed p = Parse({"--accessFile=/etc/passwd-s3", "--accessId=AKID",
                    "--accessKeyEnv=MY_SECRET", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.access_file, "/etc/passwd-s3");
  EXPECT_EQ(p.options.access_id, "AKID");
  EXPECT_EQ(p.options.access_key_env, "MY_SECRET");
  EXPECT_EQ(Parse({"--accessKey", kSecret, "bkt"}).options.access_key, kSecret);
}

TEST(OptionsCredentialsTest, AccessKeyEnvMustBeAVariableName) {
  EXPECT_EQ(Parse({"--accessKeyEnv=1X", "bkt"}).error(),
            "--accessKeyEnv: '1X' is not an environment variable name");
}

TEST(OptionsCredentialsTest, AccessKeyAndAccessKeyEnvConflict) {
  Parsed p = Parse({std::string("--accessKey=") + kSecret, "--accessKeyEnv=X",
                    "--accessId=A", "bkt"});
  EXPECT_EQ(p.error(),
            "--accessKey and --accessKeyEnv cannot be used together");
}

TEST(OptionsCredentialsTest, OnlyApplyToS3) {
  EXPECT_EQ(Parse({"--test", "--size=1G", "--accessId=A", "/d"}).error(),
            "--accessId only applies to the S3 store");
  Parsed p = Parse({"--memory", "--size=1G", "--accessKey", kSecret, "m"});
  EXPECT_EQ(p.error(), "--accessKey only applies to the S3 store");
}

TEST(OptionsCredentialsTest, OptionsFileMayHoldThemForAnyStore) {
  TempFile file("accessId = A\ntimeout = 5\n");
  EXPECT_TRUE(ParseWithFile(file, {"--memory", "--size=1G", "m"}).ok());
}

// --- actions
// -------------------------------------------------------------------

TEST(OptionsActionTest, EraseTakesBucketWithoutSize) {
  Parsed p = Parse({"--erase", "--force", "bkt/vol"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p.options.erase);
  EXPECT_TRUE(p.options.force);
  EXPECT_EQ(p.options.prefix, "vol/");
  EXPECT_TRUE(Parse({"--erase", "--test", "/d"}).ok());
}

TEST(OptionsActionTest, ResetMountedFlagTakesBucketWithoutSize) {
  Parsed p = Parse({"--reset-mounted-flag", "bkt"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p.options.reset_mounted_flag);
}

TEST(OptionsActionTest, ActionsTakeNoTarget) {
  EXPECT_EQ(Parse({"--erase", "bkt", "/dev/nbd0"}).error(),
            "--erase takes BUCKET[/PREFIX] only, not TARGET");
  EXPECT_EQ(Parse({"--reset-mounted-flag", "bkt", "/dev/nbd0"}).error(),
            "--reset-mounted-flag takes BUCKET[/PREFIX] only, not TARGET");
}

TEST(OptionsActionTest, ActionsNeedBucket) {
  EXPECT_EQ(Parse({"--erase"}).error().rfind("missing BUCKET", 0), 0u);
}

TEST(OptionsActionTest, ConflictingActions) {
  EXPECT_EQ(Parse({"--erase", "--reset-mounted-flag", "bkt"}).error(),
            "--erase and --reset-mounted-flag cannot be used together");
  EXPECT_EQ(Parse({"--erase", "--readOnly", "bkt"}).error(),
            "--erase and --readOnly cannot be used together");
  EXPECT_EQ(Parse({"--erase", "--memory", "m"}).error(),
            "--erase does not apply to --memory (nothing is kept)");
}

TEST(OptionsActionTest, DebugHttpFromArgvAndFile) {
  EXPECT_TRUE(Parse({"--debug-http", "bkt"}).options.debug_http);
  TempFile file("debug-http = true\n");
  EXPECT_TRUE(ParseWithFile(file, {"bkt"}).options.debug_http);
}

// --- secrets in argv
// -----------------------------------------------------------

// A mutable argv, as main() gets it.
class Argv {
 public:
  explicit Argv(std::vector<std::string> args) {
    args.insert(args.begin(), "usbd");
    for (const std::string& arg : args) {
      storage_.emplace_back(arg.begin(), arg.end());
      storage_.back().push_back('\0');
    }
    for (auto& arg : storage_) pointers_.push_back(arg.data());
  }
  int argc() const { return static_cast<int>(pointers_.size()); }
  char** argv() { return pointers_.data(); }
  std::string operator[](int i) const { return pointers_[i]; }

 private:
  std::vector<std::vector<char>> storage_;
  std::vector<char*> pointers_;
};

TEST(OptionsScrubTest, OverwritesSecretValuesInPlace) {
  Argv a({"--accessKey=abc", "--accessKey", "defg", "--httpHeader=A: b",
          "--httpHeaderFile=/f", "--accessId=AKID", "bkt", "--",
          "--accessKey=zz"});
  ScrubSecretArguments(a.argc(), a.argv());
  EXPECT_EQ(a[1], "--accessKey=xxx");
  EXPECT_EQ(a[2], "--accessKey");
  EXPECT_EQ(a[3], "xxxx");
  EXPECT_EQ(a[4], "--httpHeader=xxxx");
  EXPECT_EQ(a[5], "--httpHeaderFile=/f");
  EXPECT_EQ(a[6], "--accessId=AKID");
  EXPECT_EQ(a[7], "bkt");
  EXPECT_EQ(a[9], "--accessKey=zz");  // after "--": not an option
}

TEST(OptionsScrubTest, MainsParseOptionsScrubsButKeepsTheValue) {
  Argv a({"--accessId=AKID", std::string("--accessKey=") + kSecret, "bkt"});
  std::ostringstream out;
  Options options;
  Result<ParseAction> action = ParseOptions(a.argc(), a.argv(), out, &options);
  ASSERT_TRUE(action.ok()) << action.status().message();
  EXPECT_EQ(options.access_key, kSecret);
  EXPECT_EQ(a[2], "--accessKey=" + std::string(std::strlen(kSecret), 'x'));
}

TEST(OptionsScrubTest, ScrubsEvenWhenParsingFails) {
  Argv a({"--accessKey", kSecret, "--size=12x", "bkt"});
  std::ostringstream out;
  Options options;
  Result<ParseAction> action = ParseOptions(a.argc(), a.argv(), out, &options);
  ASSERT_FALSE(action.ok());
  EXPECT_EQ(action.status().message().find(kSecret), std::string::npos);
  EXPECT_EQ(a[2], std::string(std::strlen(kSecret), 'x'));
}

// CLI11 never sees a secret value (it would leave copies in freed heap
// memory): the value still reaches its field, in every form.
TEST(OptionsSecretTest, ValuesReachTheirFieldsWithoutTheParser) {
  const std::string header = "Authorization: Bearer t0k-en";
  Parsed spaced = Parse(
      {"--httpStore", "--baseURL=http://h/", "--httpHeader", header, "b"});
  ASSERT_TRUE(spaced.ok()) << spaced.error();
  EXPECT_EQ(spaced.options.http_header, header);
  Parsed joined = Parse(
      {"--httpStore", "--baseURL=http://h/", "--httpHeader=" + header, "b"});
  ASSERT_TRUE(joined.ok()) << joined.error();
  EXPECT_EQ(joined.options.http_header, header);
  // The last one wins, as for every option.
  Parsed twice = Parse({"--httpStore", "--baseURL=http://h/",
                        "--httpHeader=X: 1", "--httpHeader", "X: 2", "b"});
  ASSERT_TRUE(twice.ok()) << twice.error();
  EXPECT_EQ(twice.options.http_header, "X: 2");
  // Checked, and never quoted.
  Parsed bad = Parse({"--httpStore", "--baseURL=http://h/",
                      "--httpHeader=no colon t0k-en", "b"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().find("t0k-en"), std::string::npos) << bad.error();
  // After the end of the options it is an argument like any other.
  EXPECT_FALSE(Parse({"--httpStore", "--baseURL=http://h/", "--", "b",
                      "--httpHeader=X: 1", "extra"})
                   .ok());
}

TEST(OptionsSecretTest, OptionsFileSecretsAreUnquoted) {
  TempFile file(
      "[usbd]\nhttpHeader = \"Authorization: Bearer q\"\n"
      "httpStore = true\nbaseURL = http://h/\n");
  Parsed p = ParseWithFile(file, {"b"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.http_header, "Authorization: Bearer q");
}

}  // namespace
}  // namespace usbd
