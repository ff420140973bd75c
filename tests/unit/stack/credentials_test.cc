#include "stack/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace usbd {
namespace {

constexpr const char* kSecret = "S3CR3T/never+in+messages";

// A fake environment for ResolveCredentials.
class FakeEnv {
 public:
  FakeEnv(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}
  GetEnvFunction Get() const {
    return [this](const char* name) -> const char* {
      auto it = vars_.find(name);
      return it == vars_.end() ? nullptr : it->second.c_str();
    };
  }

 private:
  std::map<std::string, std::string> vars_;
};

// A temporary directory, standing in for $HOME, with files in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "usbd-credentials-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    EXPECT_NE(mkdtemp(name.data()), nullptr);
    path_ = name.data();
  }
  ~TempDir() {
    for (const std::string& file : files_) unlink(file.c_str());
    rmdir(path_.c_str());
  }
  std::string Write(const std::string& name, const std::string& content) {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << content;
    files_.push_back(file);
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

Result<AwsCredentials> Resolve(const Options& options,
                               std::map<std::string, std::string> env) {
  FakeEnv fake(std::move(env));
  return ResolveCredentials(options, fake.Get());
}

void ExpectNoSecret(const Status& status) {
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().find(kSecret), std::string::npos)
      << status.message();
  EXPECT_EQ(status.message().find("S3CR3T"), std::string::npos)
      << status.message();
}

// --- 1. --accessKey / --accessKeyEnv ----------------------------------------

TEST(CredentialsTest, AccessKeyWithAccessId) {
  Options o;
  o.access_id = "AKID";
  o.access_key = kSecret;
  Result<AwsCredentials> c = Resolve(o, {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_key_id, "AKID");
  EXPECT_EQ(c->secret_access_key, kSecret);
  EXPECT_EQ(c->session_token, "");
}

TEST(CredentialsTest, AccessKeyEnvReadsTheNamedVariable) {
  Options o;
  o.access_id = "AKID";
  o.access_key_env = "MY_SECRET";
  Result<AwsCredentials> c = Resolve(o, {{"MY_SECRET", kSecret}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->secret_access_key, kSecret);
}

TEST(CredentialsTest, AccessKeyEnvUnsetOrEmptyIsAnError) {
  Options o;
  o.access_id = "AKID";
  o.access_key_env = "MY_SECRET";
  EXPECT_EQ(Resolve(o, {}).status().message(),
            "--accessKeyEnv: environment variable MY_SECRET is not set or "
            "empty");
  EXPECT_FALSE(Resolve(o, {{"MY_SECRET", ""}}).ok());
}

TEST(CredentialsTest, AccessKeyNeedsAccessId) {
  Options o;
  o.access_key = kSecret;
  Result<AwsCredentials> c = Resolve(o, {});
  EXPECT_EQ(c.status().message(), "--accessKey needs --accessId");
  ExpectNoSecret(c.status());
}

TEST(CredentialsTest, AccessKeyAndAccessKeyEnvConflict) {
  Options o;
  o.access_id = "AKID";
  o.access_key = kSecret;
  o.access_key_env = "MY_SECRET";
  Result<AwsCredentials> c = Resolve(o, {{"MY_SECRET", kSecret}});
  EXPECT_EQ(c.status().message(),
            "--accessKey and --accessKeyEnv cannot be used together");
}

TEST(CredentialsTest, AccessKeyEnvBeatsFileAndEnvironment) {
  TempDir home;
  home.Write(".s3backer_passwd", "AKID:from-file\n");
  Options o;
  o.access_id = "AKID";
  o.access_key_env = "MY_SECRET";
  Result<AwsCredentials> c =
      Resolve(o, {{"HOME", home.path()},
                  {"MY_SECRET", "from-var"},
                  {"AWS_ACCESS_KEY_ID", "AKID"},
                  {"AWS_SECRET_ACCESS_KEY", "from-aws-env"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->secret_access_key, "from-var");
}

// --- 2. the access file
// -------------------------------------------------------

TEST(CredentialsTest, AccessFileFirstLineWithoutAccessId) {
  TempDir dir;
  Options o;
  o.access_file =
      dir.Write("passwd", "# comment\n\n  AKID1:key1  \nAKID2:key2\n");
  Result<AwsCredentials> c = Resolve(o, {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_key_id, "AKID1");
  EXPECT_EQ(c->secret_access_key, "key1");
}

TEST(CredentialsTest, AccessFileLineMatchingAccessId) {
  TempDir dir;
  Options o;
  o.access_file = dir.Write("passwd", "AKID1:key1\r\nAKID2:key:2\r\n");
  o.access_id = "AKID2";
  Result<AwsCredentials> c = Resolve(o, {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_key_id, "AKID2");
  EXPECT_EQ(c->secret_access_key, "key:2");  // split at the first ':'
}

TEST(CredentialsTest, AccessFileWithoutTheIdIsAnError) {
  TempDir dir;
  Options o;
  o.access_file = dir.Write("passwd", std::string("AKID1:") + kSecret + "\n");
  o.access_id = "AKID2";
  Result<AwsCredentials> c = Resolve(o, {});
  EXPECT_EQ(c.status().message(), "--accessFile: '" + o.access_file +
                                      "' has no line for access id 'AKID2'");
  ExpectNoSecret(c.status());
}

TEST(CredentialsTest, MalformedAccessFileLineNamesLineNotContent) {
  TempDir dir;
  Options o;
  o.access_file = dir.Write("passwd", std::string("# x\n") + kSecret + "\n");
  Result<AwsCredentials> c = Resolve(o, {});
  EXPECT_EQ(c.status().message(),
            o.access_file + ":2: expected accessId:accessKey");
  ExpectNoSecret(c.status());
}

TEST(CredentialsTest, MissingExplicitAccessFileIsAnError) {
  Options o;
  o.access_file = "/nonexistent/passwd";
  Result<AwsCredentials> c = Resolve(o, {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ENOENT);
  EXPECT_EQ(c.status().message().rfind(
                "--accessFile: cannot open '/nonexistent/passwd'", 0),
            0u)
      << c.status().message();
}

TEST(CredentialsTest, DefaultAccessFileInHome) {
  TempDir home;
  home.Write(".s3backer_passwd", "AKID:key\n");
  Result<AwsCredentials> c = Resolve(Options{}, {{"HOME", home.path()}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_key_id, "AKID");
  EXPECT_EQ(c->secret_access_key, "key");
}

TEST(CredentialsTest, AccessFileBeatsEnvironment) {
  TempDir home;
  home.Write(".s3backer_passwd", "AKID:from-file\n");
  Result<AwsCredentials> c =
      Resolve(Options{}, {{"HOME", home.path()},
                          {"AWS_ACCESS_KEY_ID", "ENVID"},
                          {"AWS_SECRET_ACCESS_KEY", "from-env"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->secret_access_key, "from-file");
}

TEST(CredentialsTest, DefaultAccessFileWithoutTheIdFallsToEnvironment) {
  TempDir home;
  home.Write(".s3backer_passwd", "OTHER:key\n");
  Options o;
  o.access_id = "ENVID";
  Result<AwsCredentials> c =
      Resolve(o, {{"HOME", home.path()},
                  {"AWS_ACCESS_KEY_ID", "ENVID"},
                  {"AWS_SECRET_ACCESS_KEY", "from-env"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->secret_access_key, "from-env");
}

// --- 3. the environment
// -------------------------------------------------------

TEST(CredentialsTest, EnvironmentWithSessionToken) {
  TempDir home;  // no .s3backer_passwd in it
  Result<AwsCredentials> c =
      Resolve(Options{}, {{"HOME", home.path()},
                          {"AWS_ACCESS_KEY_ID", "ENVID"},
                          {"AWS_SECRET_ACCESS_KEY", kSecret},
                          {"AWS_SESSION_TOKEN", "token"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_key_id, "ENVID");
  EXPECT_EQ(c->secret_access_key, kSecret);
  EXPECT_EQ(c->session_token, "token");
}

TEST(CredentialsTest, EnvironmentSecretWithAccessIdOption) {
  Options o;
  o.access_id = "AKID";
  Result<AwsCredentials> c = Resolve(o, {{"AWS_SECRET_ACCESS_KEY", "k"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_key_id, "AKID");
}

TEST(CredentialsTest, EnvironmentForAnotherIdIsNotUsed) {
  Options o;
  o.access_id = "AKID";
  Result<AwsCredentials> c = Resolve(
      o, {{"AWS_ACCESS_KEY_ID", "OTHER"}, {"AWS_SECRET_ACCESS_KEY", kSecret}});
  EXPECT_EQ(c.status().message(),
            "no secret key for access id 'AKID': use --accessKeyEnv, a line "
            "in --accessFile, or AWS_SECRET_ACCESS_KEY (AWS_ACCESS_KEY_ID "
            "names another id)");
  ExpectNoSecret(c.status());
}

TEST(CredentialsTest, NothingAtAllNamesTheWays) {
  EXPECT_EQ(Resolve(Options{}, {}).status().message(),
            "no S3 credentials: use --accessFile, --accessId with "
            "--accessKeyEnv, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or "
            "~/.aws/credentials");
  EXPECT_EQ(Resolve(Options{}, {}).status().code(), EINVAL);
}

TEST(CredentialsTest, HalfOfTheAwsPairIsNamed) {
  Result<AwsCredentials> c =
      Resolve(Options{}, {{"AWS_SECRET_ACCESS_KEY", kSecret}});
  EXPECT_NE(c.status().message().find("AWS_ACCESS_KEY_ID is not"),
            std::string::npos)
      << c.status().message();
  ExpectNoSecret(c.status());
  EXPECT_NE(Resolve(Options{}, {{"AWS_ACCESS_KEY_ID", "X"}})
                .status()
                .message()
                .find("AWS_SECRET_ACCESS_KEY is not"),
            std::string::npos);
}

// --- 4. the AWS shared credentials file --------------------------------------

constexpr const char* kSharedFile =
    "# written by aws configure\n"
    "[default]\n"
    "aws_access_key_id = DEFAULTID\n"
    "aws_secret_access_key = S3CR3T-default\n"
    "\n"
    "[profile work]\n"
    "aws_access_key_id=WORKID\n"
    "aws_secret_access_key=S3CR3T-work\n"
    "aws_session_token=worktoken\n";

TEST(CredentialsTest, SharedCredentialsFileDefaultProfile) {
  TempDir home;
  mkdir((home.path() + "/.aws").c_str(), 0700);
  std::string file = home.Write(".aws/credentials", kSharedFile);
  Result<AwsCredentials> c = Resolve(Options{}, {{"HOME", home.path()}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_key_id, "DEFAULTID");
  EXPECT_EQ(c->secret_access_key, "S3CR3T-default");
  EXPECT_EQ(c->session_token, "");
  unlink(file.c_str());  // TempDir removes only files at its top
  rmdir((home.path() + "/.aws").c_str());
}

TEST(CredentialsTest, SharedCredentialsFileProfileFromTheEnvironment) {
  TempDir dir;
  std::string file = dir.Write("creds", kSharedFile);
  Result<AwsCredentials> c =
      Resolve(Options{},
              {{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "work"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_key_id, "WORKID");
  EXPECT_EQ(c->secret_access_key, "S3CR3T-work");
  EXPECT_EQ(c->session_token, "worktoken");

  Result<AwsCredentials> missing =
      Resolve(Options{},
              {{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "nope"}});
  EXPECT_EQ(missing.status().message(),
            "AWS_PROFILE: no profile 'nope' in '" + file + "'");
  ExpectNoSecret(missing.status());
  EXPECT_FALSE(Resolve(Options{}, {{"AWS_PROFILE", "work"}}).ok())
      << "a named profile without any credentials file is an error";
}

TEST(CredentialsTest, TheEnvironmentBeatsTheSharedFile) {
  TempDir dir;
  std::string file = dir.Write("creds", kSharedFile);
  Result<AwsCredentials> c =
      Resolve(Options{}, {{"AWS_SHARED_CREDENTIALS_FILE", file},
                          {"AWS_ACCESS_KEY_ID", "ENVID"},
                          {"AWS_SECRET_ACCESS_KEY", kSecret}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "ENVID");
}

TEST(CredentialsTest, IncompleteProfileIsAnErrorWithoutItsSecret) {
  TempDir dir;
  std::string file =
      dir.Write("creds", std::string("[default]\naws_secret_access_key = ") +
                             kSecret + "\n");
  Result<AwsCredentials> c =
      Resolve(Options{}, {{"AWS_SHARED_CREDENTIALS_FILE", file}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("needs aws_access_key_id"),
            std::string::npos);
  ExpectNoSecret(c.status());
}

// --- ResolveHttpHeader ----------------------------------------------------

TEST(CredentialsTest, HttpHeaderFromOption) {
  Options o;
  o.http_header = "Authorization: Bearer x";
  EXPECT_EQ(*ResolveHttpHeader(o), "Authorization: Bearer x");
  EXPECT_EQ(*ResolveHttpHeader(Options{}), "");
}

TEST(CredentialsTest, HttpHeaderFromFile) {
  TempDir dir;
  Options o;
  o.http_header_file = dir.Write(
      "header", std::string("Authorization: Bearer ") + kSecret + "\r\n\n");
  Result<SecretString> h = ResolveHttpHeader(o);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(*h, std::string("Authorization: Bearer ") + kSecret);
}

TEST(CredentialsTest, MalformedHttpHeaderFileDoesNotRepeatIt) {
  TempDir dir;
  Options o;
  o.http_header_file = dir.Write("header", std::string("Bearer ") + kSecret);
  Result<SecretString> h = ResolveHttpHeader(o);
  EXPECT_EQ(h.status().message(), "--httpHeaderFile: '" + o.http_header_file +
                                      "': expected one line 'Name: value'");
  ExpectNoSecret(h.status());
  o.http_header_file = dir.Write("two", "A: 1\nB: 2\n");
  EXPECT_FALSE(ResolveHttpHeader(o).ok());
}

}  // namespace
}  // namespace usbd
