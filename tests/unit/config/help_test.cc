// --help and --version.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "config.h"
#include "config/options.h"
#include "testing/options_test_util.h"

namespace usbd {
namespace {

using namespace usbd::options_test;  // NOLINT

// --- --help and --version
// ----------------------------------------------------------

TEST(HelpTest, ReturnsExitAndPrintsUsage) {
  Parsed p = Parse({"--help"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(*p.action, ParseAction::kExit);
  EXPECT_EQ(p.out.rfind("Usage: usbd [options] BUCKET[/PREFIX] [TARGET]\n", 0),
            0u);
}

TEST(HelpTest, ShortFlagWorks) {
  Parsed p = Parse({"-h"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p.action, ParseAction::kExit);
}

TEST(HelpTest, WinsOverMissingArguments) {
  Parsed p = Parse({"--size=1G", "--help"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(*p.action, ParseAction::kExit);
}

TEST(HelpTest, MentionsEveryLongOption) {
  std::string help = Parse({"--help"}).out;
  for (const char* name : {"-F, --configFile=FILE",
                           "--test",
                           "--memory",
                           "--prefix=STR",
                           "--size=SIZE",
                           "--blockSize=SIZE",
                           "--readOnly",
                           "--listen=ADDR",
                           "-f, --foreground",
                           "--nbdThreads=N",
                           "--debug",
                           "--quiet",
                           "-h, --help",
                           "--version",
                           "--httpStore",
                           "--baseURL=URL",
                           "--blockHashPrefix",
                           "--region=REGION",
                           "--vhost",
                           "--ssl",
                           "--storageClass=CLASS",
                           "--sse=ALG",
                           "--accessType=ACL",
                           "--authVersion=VER",
                           "--listBlocks",
                           "--listBlocksThreads=N",
                           "--accessFile=FILE",
                           "--accessId=ID",
                           "--accessKey=KEY",
                           "--accessKeyEnv=VAR",
                           "--httpHeader=HDR",
                           "--httpHeaderFile=FILE",
                           "--cacert=FILE",
                           "--insecure",
                           "--timeout=SECS",
                           "--maxUploadSpeed=BITS",
                           "--maxDownloadSpeed=BITS",
                           "--initialRetryPause=MS",
                           "--maxRetryPause=MS",
                           "--force",
                           "--erase",
                           "--reset-mounted-flag",
                           "--debug-http"}) {
    EXPECT_NE(help.find(std::string("  ") + name), std::string::npos) << name;
  }
}

TEST(HelpTest, ShowsDefaults) {
  std::string help = Parse({"--help"}).out;
  EXPECT_NE(help.find("(default: 256k)"), std::string::npos) << help;
  EXPECT_NE(help.find("(default: 8)"), std::string::npos) << help;
  EXPECT_NE(help.find("(default: https://s3.amazonaws.com/)"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("(default: us-east-1)"), std::string::npos) << help;
}

TEST(HelpTest, LinesFitIn80Columns) {
  std::istringstream help(Parse({"--help"}).out);
  std::string line;
  while (std::getline(help, line)) {
    // The listen default depends on $XDG_RUNTIME_DIR; allow for a long one.
    if (line.find("unix:") != std::string::npos) continue;
    EXPECT_LT(line.size(), 80u) << line;
  }
}

TEST(VersionTest, PrintsPackageVersion) {
  Parsed p = Parse({"--version"});
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(*p.action, ParseAction::kExit);
  EXPECT_EQ(p.out, std::string("usbd ") + PACKAGE_VERSION + "\n");
}

}  // namespace
}  // namespace usbd
