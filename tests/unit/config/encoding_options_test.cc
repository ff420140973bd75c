// The compression and encryption options (issue 5): --compress[=LEVEL],
// --encrypt and its password sources, on the command line and in the
// options file; the password read by ResolvePassword; and the password
// scrubbed from argv and kept out of every message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "codec/block_codec.h"
#include "config/options.h"
#include "stack/credentials.h"
#include "testing/options_test_util.h"

namespace usbd {
namespace {

using namespace usbd::options_test;  // NOLINT

constexpr const char* kPassword = "Pa55-never-in-messages";

// --- --compress ----------------------------------------------------------

TEST(CompressOptionTest, OffByDefault) {
  Parsed p = Parse({"--memory", "--size=1M", "m"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.compress, 0u);
  EXPECT_FALSE(p.options.encrypt);
}

TEST(CompressOptionTest, BareFlagIsTheDefaultLevel) {
  Parsed p = Parse({"--compress", "--memory", "--size=1M", "m"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.compress, static_cast<uint32_t>(kDefaultCompressLevel));
}

TEST(CompressOptionTest, LevelFromArgv) {
  for (uint32_t level : {1u, 3u, 19u}) {
    Parsed p = Parse(
        {"--compress=" + std::to_string(level), "--memory", "--size=1M", "m"});
    ASSERT_TRUE(p.ok()) << p.error();
    EXPECT_EQ(p.options.compress, level);
  }
}

TEST(CompressOptionTest, BooleansAndZero) {
  EXPECT_EQ(
      Parse({"--compress=true", "--memory", "--size=1M", "m"}).options.compress,
      static_cast<uint32_t>(kDefaultCompressLevel));
  for (const char* off : {"--compress=false", "--compress=off", "--compress=0",
                          "--compress=no"}) {
    Parsed p = Parse({off, "--memory", "--size=1M", "m"});
    ASSERT_TRUE(p.ok()) << off << ": " << p.error();
    EXPECT_EQ(p.options.compress, 0u) << off;
  }
}

TEST(CompressOptionTest, BadLevelsNameOptionAndValue) {
  EXPECT_EQ(Parse({"--compress=20", "--memory", "--size=1M", "m"}).error(),
            "--compress: '20' is out of range (1 to 19)");
  EXPECT_EQ(Parse({"--compress=fast", "--memory", "--size=1M", "m"}).error(),
            "--compress: 'fast' is not a level (1 to 19), a boolean or "
            "'zstd': usbd compresses with zstd (and with deflate the volumes "
            "it adopted from s3backer): use --compress, --compress=zstd or "
            "--compress=LEVEL");
  EXPECT_FALSE(Parse({"--compress=99999999999999999999999", "--memory",
                      "--size=1M", "m"})
                   .ok());
}

TEST(CompressOptionTest, OptionsFileTakesLevelOrBoolean) {
  TempFile level("compress = 3\n");
  Parsed p = ParseWithFile(level, {"--memory", "--size=1M", "m"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p.options.compress, 3u);
  TempFile on("compress = true\n");
  EXPECT_EQ(ParseWithFile(on, {"--memory", "--size=1M", "m"}).options.compress,
            static_cast<uint32_t>(kDefaultCompressLevel));
  TempFile bad("compress = 42\n");
  Parsed b = ParseWithFile(bad, {"--memory", "--size=1M", "m"});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error(), bad.path() +
                           ":1: compress: '42' is out of range (1 "
                           "to 19)");
}

TEST(CompressOptionTest, ArgvOverridesFile) {
  TempFile file("compress = 9\n");
  EXPECT_EQ(
      ParseWithFile(file, {"--compress=false", "--memory", "--size=1M", "m"})
          .options.compress,
      0u);
}

TEST(CompressOptionTest, HelpShowsTheOptionalLevel) {
  std::string help = Parse({"--help"}).out;
  EXPECT_NE(help.find("  --compress[=LEVEL] "), std::string::npos) << help;
  for (const char* name : {"  --encrypt ", "  --password=PW ",
                           "  --passwordFile=FILE ", "  --passwordEnv=VAR "}) {
    EXPECT_NE(help.find(name), std::string::npos) << name;
  }
}

// --- --encrypt and the password ------------------------------------------

TEST(EncryptOptionTest, EachPasswordSourceWithEncrypt) {
  Parsed file = Parse(
      {"--encrypt", "--passwordFile=/etc/pw", "--memory", "--size=1M", "m"});
  ASSERT_TRUE(file.ok()) << file.error();
  EXPECT_TRUE(file.options.encrypt);
  EXPECT_EQ(file.options.password_file, "/etc/pw");
  EXPECT_FALSE(file.options.password_on_command_line);

  Parsed env = Parse(
      {"--encrypt", "--passwordEnv=USBD_PW", "--memory", "--size=1M", "m"});
  ASSERT_TRUE(env.ok()) << env.error();
  EXPECT_EQ(env.options.password_env, "USBD_PW");

  Parsed pw = Parse({"--encrypt", std::string("--password=") + kPassword,
                     "--memory", "--size=1M", "m"});
  ASSERT_TRUE(pw.ok()) << pw.error();
  EXPECT_EQ(pw.options.password, kPassword);
  EXPECT_TRUE(pw.options.password_on_command_line);
}

TEST(EncryptOptionTest, EncryptWithoutPasswordIsAnError) {
  EXPECT_EQ(Parse({"--encrypt", "--memory", "--size=1M", "m"}).error(),
            "--encrypt needs a password: --passwordFile=FILE, "
            "--passwordEnv=VAR or --password=PW");
}

TEST(EncryptOptionTest, PasswordWithoutEncryptIsAnError) {
  EXPECT_EQ(
      Parse({"--passwordFile=/etc/pw", "--memory", "--size=1M", "m"}).error(),
      "--passwordFile is only used with --encrypt, which is not set");
  Parsed pw = Parse(
      {std::string("--password=") + kPassword, "--memory", "--size=1M", "m"});
  ASSERT_FALSE(pw.ok());
  EXPECT_EQ(pw.error(),
            "--password is only used with --encrypt, which is not set");
}

TEST(EncryptOptionTest, TwoPasswordSourcesConflict) {
  Parsed p = Parse({"--encrypt", "--passwordFile=/etc/pw",
                    std::string("--password=") + kPassword, "--memory",
                    "--size=1M", "m"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error(),
            "--passwordFile and --password cannot be used together (give one "
            "password)");
}

TEST(EncryptOptionTest, EmptyPasswordSourceIsAnError) {
  EXPECT_EQ(Parse({"--encrypt", "--password", "", "--memory", "--size=1M", "m"})
                .error(),
            "--password must not be empty");
  TempFile file("encrypt = true\npasswordFile =\n");
  EXPECT_EQ(ParseWithFile(file, {"--memory", "--size=1M", "m"}).error(),
            "--passwordFile must not be empty");
}

TEST(EncryptOptionTest, BadVariableName) {
  Parsed p = Parse(
      {"--encrypt", "--passwordEnv=NOT-A-NAME", "--memory", "--size=1M", "m"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().find("is not an environment variable name"),
            std::string::npos)
      << p.error();
}

TEST(EncryptOptionTest, FromTheOptionsFileWithoutTheFlagOnArgv) {
  TempFile file(std::string("encrypt = yes\npassword = ") + kPassword + "\n");
  Parsed p = ParseWithFile(file, {"--memory", "--size=1M", "m"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p.options.encrypt);
  EXPECT_EQ(p.options.password, kPassword);
  EXPECT_FALSE(p.options.password_on_command_line) << "not visible to ps";
}

TEST(EncryptOptionTest, AppliesToEveryStore) {
  for (std::vector<std::string> store :
       {std::vector<std::string>{"bkt"},
        {"--httpStore", "--baseURL=http://h/", "b"},
        {"--test", "/d"},
        {"--memory", "--size=1M", "m"}}) {
    store.insert(store.begin(),
                 {"--compress=2", "--encrypt", "--passwordEnv=PW"});
    Parsed p = Parse(store);
    EXPECT_TRUE(p.ok()) << store.back() << ": " << p.error();
  }
}

TEST(EncryptOptionTest, PasswordNeverInAnErrorMessage) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--password", kPassword, "--size=12x", "b"},
        {"--encrypt", std::string("--password=") + kPassword, "--test",
         "--memory", "d"},
        {std::string("--password=") + kPassword, "--memory", "--size=1M",
         "m"}}) {
    Parsed p = Parse(args);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().find(kPassword), std::string::npos) << p.error();
  }
  TempFile file(std::string("password = ") + kPassword + "\nbogus = 1\n");
  Parsed p = ParseWithFile(file, {"--memory", "--size=1M", "m"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().find(kPassword), std::string::npos) << p.error();
}

// --- scrubbing argv ------------------------------------------------------

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
  int argc() { return static_cast<int>(pointers_.size()); }
  char** argv() { return pointers_.data(); }
  std::string operator[](size_t i) const { return storage_[i].data(); }

 private:
  std::vector<std::vector<char>> storage_;
  std::vector<char*> pointers_;
};

TEST(EncryptOptionTest, PasswordIsScrubbedFromArgv) {
  Argv a({"--encrypt", std::string("--password=") + kPassword, "--password",
          "second", "--passwordFile=/f", "--memory", "--size=1M", "m"});
  ScrubSecretArguments(a.argc(), a.argv());
  EXPECT_EQ(a[2], "--password=" + std::string(std::strlen(kPassword), 'x'));
  EXPECT_EQ(a[3], "--password");
  EXPECT_EQ(a[4], "xxxxxx");
  EXPECT_EQ(a[5], "--passwordFile=/f") << "a file name is no secret";
}

TEST(EncryptOptionTest, MainsParseOptionsScrubsButKeepsThePassword) {
  Argv a({"--encrypt", std::string("--password=") + kPassword, "--memory",
          "--size=1M", "m"});
  std::ostringstream out;
  Options options;
  Result<ParseAction> action = ParseOptions(a.argc(), a.argv(), out, &options);
  ASSERT_TRUE(action.ok()) << action.status().message();
  EXPECT_EQ(options.password, kPassword);
  EXPECT_EQ(a[2], "--password=" + std::string(std::strlen(kPassword), 'x'));
}

// --- ResolvePassword -----------------------------------------------------

Options WithFile(const std::string& path) {
  Options options;
  options.encrypt = true;
  options.password_file = path;
  return options;
}

TEST(ResolvePasswordTest, FirstLineOfTheFileWithoutItsLineEnd) {
  for (const char* content :
       {"pass word \nsecond line\n", "pass word \r\n", "pass word "}) {
    TempFile file(content);
    auto password = ResolvePassword(WithFile(file.path()));
    ASSERT_TRUE(password.ok()) << password.status().message();
    EXPECT_EQ(*password, "pass word ") << "spaces are part of it";
  }
}

TEST(ResolvePasswordTest, EmptyFirstLineOrMissingFileIsAnError) {
  TempFile empty("\nsecret on line two\n");
  auto password = ResolvePassword(WithFile(empty.path()));
  ASSERT_FALSE(password.ok());
  EXPECT_EQ(password.status().code(), EINVAL);
  EXPECT_NE(password.status().message().find("is empty"), std::string::npos);
  EXPECT_EQ(password.status().message().find("secret"), std::string::npos);

  auto missing = ResolvePassword(WithFile("/nonexistent/usbd-password"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ENOENT);
  EXPECT_NE(missing.status().message().find("--passwordFile: cannot open "
                                            "'/nonexistent/usbd-password'"),
            std::string::npos)
      << missing.status().message();
}

TEST(ResolvePasswordTest, OverlongLineIsAnError) {
  TempFile file(std::string(2000, 'p') + "\n");
  auto password = ResolvePassword(WithFile(file.path()));
  ASSERT_FALSE(password.ok());
  EXPECT_NE(password.status().message().find("longer than"), std::string::npos);
}

TEST(ResolvePasswordTest, FromTheEnvironment) {
  std::map<std::string, std::string> vars = {{"USBD_PW", kPassword}};
  GetEnvFunction env = [&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
  Options options;
  options.encrypt = true;
  options.password_env = "USBD_PW";
  auto password = ResolvePassword(options, env);
  ASSERT_TRUE(password.ok());
  EXPECT_EQ(*password, kPassword);

  options.password_env = "USBD_UNSET";
  auto unset = ResolvePassword(options, env);
  ASSERT_FALSE(unset.ok());
  EXPECT_EQ(unset.status().message(),
            "--passwordEnv: environment variable USBD_UNSET is not set or "
            "empty");
}

TEST(ResolvePasswordTest, FromArgvOrNothing) {
  Options options;
  options.encrypt = true;
  options.password = kPassword;
  auto password = ResolvePassword(options);
  ASSERT_TRUE(password.ok());
  EXPECT_EQ(*password, kPassword);
  options.password.clear();
  EXPECT_EQ(ResolvePassword(options).status().code(), EINVAL);
  options.password = kPassword;
  options.password_env = "X";
  auto two = ResolvePassword(options);
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().message().find(kPassword), std::string::npos);
}

}  // namespace
}  // namespace usbd
