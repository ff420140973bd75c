// StopPolicy: a stop request never disconnects a device in use, unless a
// second request or SIGQUIT forces it; the "still in use" line is rate
// limited.
#include "kernel/stop_policy.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <string>

namespace usbd::kernel {
namespace {

using Action = StopPolicy::Action;
using std::chrono::seconds;

struct Fixture {
  std::string in_use;
  int probes = 0;
  StopPolicy policy{"/dev/nbd0", [this] {
                      ++probes;
                      return in_use;
                    }};
  StopPolicy::Clock::time_point t0 = StopPolicy::Clock::now();
};

size_t Count(const std::string& text, const std::string& word) {
  size_t count = 0;
  for (size_t at = text.find(word); at != std::string::npos;
       at = text.find(word, at + 1)) {
    ++count;
  }
  return count;
}

TEST(StopPolicy, ServesWithoutAskingUntilAStopIsRequested) {
  Fixture f;
  f.in_use = "";
  EXPECT_EQ(f.policy.OnTick(f.t0), Action::kServe);
  EXPECT_EQ(f.probes, 0);  // no open(2) of the device while serving
  EXPECT_FALSE(f.policy.stopping());
}

TEST(StopPolicy, FreeDeviceDisconnectsOnTheFirstSigterm) {
  Fixture f;
  EXPECT_EQ(f.policy.OnSignal(SIGTERM, f.t0), Action::kDisconnect);
  EXPECT_FALSE(f.policy.forced());
}

TEST(StopPolicy, MountedDeviceIsServedUntilUnmounted) {
  Fixture f;
  f.in_use = "mounted on /srv/data";
  testing::internal::CaptureStderr();
  EXPECT_EQ(f.policy.OnSignal(SIGTERM, f.t0), Action::kServe);
  EXPECT_TRUE(f.policy.stopping());
  for (int i = 1; i <= 10; ++i) {
    EXPECT_EQ(f.policy.OnTick(f.t0 + seconds(i)), Action::kServe);
  }
  f.in_use = "";
  EXPECT_EQ(f.policy.OnTick(f.t0 + seconds(11)), Action::kDisconnect);
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("mounted on /srv/data"), std::string::npos) << log;
  EXPECT_NE(log.find("no longer in use"), std::string::npos) << log;
  EXPECT_FALSE(f.policy.forced());
}

TEST(StopPolicy, StillInUseLineIsRepeatedAtMostOncePerInterval) {
  Fixture f;
  f.in_use = "mounted on /srv/data";
  testing::internal::CaptureStderr();
  EXPECT_EQ(f.policy.OnSignal(SIGINT, f.t0), Action::kServe);
  // Two ticks a second for 150 s: the first line, then one at 60 and 120 s.
  for (int i = 1; i <= 300; ++i) {
    auto now = f.t0 + std::chrono::milliseconds(500 * i);
    EXPECT_EQ(f.policy.OnTick(now), Action::kServe);
  }
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(Count(log, "mounted on /srv/data"), 3u) << log;
}

TEST(StopPolicy, SecondSigtermForcesTheDisconnect) {
  Fixture f;
  f.in_use = "mounted on /srv/data";
  testing::internal::CaptureStderr();
  EXPECT_EQ(f.policy.OnSignal(SIGTERM, f.t0), Action::kServe);
  EXPECT_EQ(f.policy.OnTick(f.t0 + seconds(1)), Action::kServe);
  EXPECT_EQ(f.policy.OnSignal(SIGTERM, f.t0 + seconds(2)), Action::kDisconnect);
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(f.policy.forced());
  EXPECT_NE(log.find("although it is mounted"), std::string::npos) << log;
}

TEST(StopPolicy, SigquitForcesAtOnce) {
  Fixture f;
  f.in_use = "mounted on /srv/data";
  testing::internal::CaptureStderr();
  EXPECT_EQ(f.policy.OnSignal(SIGQUIT, f.t0), Action::kDisconnect);
  (void)testing::internal::GetCapturedStderr();
  EXPECT_TRUE(f.policy.forced());
}

TEST(StopPolicy, SigquitOnAFreeDeviceIsAPlainStop) {
  Fixture f;
  EXPECT_EQ(f.policy.OnSignal(SIGQUIT, f.t0), Action::kDisconnect);
  EXPECT_FALSE(f.policy.forced());
}

}  // namespace
}  // namespace usbd::kernel
