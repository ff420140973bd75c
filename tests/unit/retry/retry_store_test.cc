#include "retry/retry_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "store/memory_store.h"
#include "util/attempt_deadline.h"

namespace usbd {
namespace {

using Clock = RetryOptions::Clock;
using std::chrono::milliseconds;

constexpr uint32_t kBlockSize = 4096;
constexpr uint64_t kBlockCount = 64;

// A clock that only moves when the code under test sleeps or when the test
// double says an attempt took time. Records every pause.
class FakeTime {
 public:
  Clock::time_point Now() {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Advance(Clock::duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }
  void Sleep(Clock::duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
    pauses_.push_back(d);
  }
  std::vector<Clock::duration> pauses() {
    std::lock_guard lock(mu_);
    return pauses_;
  }
  Clock::duration total_pause() {
    Clock::duration total{};
    for (auto d : pauses()) total += d;
    return total;
  }
  Clock::duration elapsed() { return Now() - Clock::time_point(); }

  // Options wired to this clock; `random` is fixed unless replaced.
  RetryOptions Options(milliseconds initial, milliseconds budget,
                       double random = 1.0) {
    RetryOptions options;
    options.initial_pause = initial;
    options.max_pause_total = budget;
    options.now = [this] { return Now(); };
    options.sleep = [this](Clock::duration d) { Sleep(d); };
    options.random = [random] { return random; };
    return options;
  }

 private:
  std::mutex mu_;
  Clock::time_point now_{};
  std::vector<Clock::duration> pauses_;
};

enum class Op { kStart, kShutdown, kRead, kWrite, kTrim, kFlush, kQuery };

// Test double of the layer below: a real memory store behind a plan of
// failures. A planned failure is returned before the memory store is touched,
// so a failed write really did not write.
class FlakyStore : public ForwardingStore {
 public:
  struct Plan {
    std::mutex mu;
    std::map<Op, std::deque<Status>> failures;
    std::map<Op, Status> always;  // once the queue is empty
    std::map<Op, int> calls;
    FakeTime* time = nullptr;
    Clock::duration attempt_cost{};

    void FailNext(Op op, int n, const Status& status) {
      std::lock_guard lock(mu);
      for (int i = 0; i < n; ++i) failures[op].push_back(status);
    }
    void FailAlways(Op op, const Status& status) {
      std::lock_guard lock(mu);
      always[op] = status;
    }
    int Calls(Op op) {
      std::lock_guard lock(mu);
      return calls[op];
    }
  };

  explicit FlakyStore(Plan* plan)
      : ForwardingStore(NewMemoryStore({{kBlockSize, kBlockCount}})),
        plan_(plan) {}

  Status Start() override {
    return Attempt(Op::kStart, [&] { return inner().Start(); });
  }
  Status Shutdown() override {
    return Attempt(Op::kShutdown, [&] { return inner().Shutdown(); });
  }
  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    // A failed read scribbles on the buffer, as a torn transfer would.
    std::fill(out.begin(), out.end(), 0xEE);
    return Attempt(Op::kRead, [&] { return inner().Read(block, offset, out); });
  }
  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    return Attempt(Op::kWrite,
                   [&] { return inner().Write(block, offset, data); });
  }
  Status Trim(uint64_t block) override {
    return Attempt(Op::kTrim, [&] { return inner().Trim(block); });
  }
  Status Flush() override {
    return Attempt(Op::kFlush, [&] { return inner().Flush(); });
  }
  Status QueryAllocation(uint64_t first, uint64_t count,
                         std::vector<bool>* allocated) override {
    return Attempt(Op::kQuery, [&] {
      return inner().QueryAllocation(first, count, allocated);
    });
  }

 private:
  template <typename F>
  Status Attempt(Op op, const F& forward) {
    Status planned;
    {
      std::lock_guard lock(plan_->mu);
      ++plan_->calls[op];
      auto& queue = plan_->failures[op];
      if (!queue.empty()) {
        planned = queue.front();
        queue.pop_front();
      } else if (auto it = plan_->always.find(op); it != plan_->always.end()) {
        planned = it->second;
      }
    }
    if (plan_->time) plan_->time->Advance(plan_->attempt_cost);
    if (!planned.ok()) return planned;
    return forward();
  }

  Plan* plan_;
};

Status SlowDown() { return Status::IoError("HTTP 503 SlowDown", true); }
Status TimedOut() {
  return Status::Error(ETIMEDOUT, "GET timed out after 10 s", true);
}

std::vector<uint8_t> Pattern(uint8_t seed) {
  std::vector<uint8_t> data(kBlockSize);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(seed + i * 7);
  return data;
}

std::vector<Clock::duration> Ms(std::initializer_list<int> values) {
  std::vector<Clock::duration> out;
  for (int v : values) out.push_back(milliseconds(v));
  return out;
}

uint64_t Stat(const BlockStore& store, const std::string& name) {
  std::vector<StatEntry> stats;
  store.CollectStats(&stats);
  for (const auto& entry : stats) {
    if (entry.name == name) return entry.value;
  }
  ADD_FAILURE() << "no stat " << name;
  return 0;
}

class RetryStoreTest : public ::testing::Test {
 protected:
  void Build(RetryOptions options) {
    plan_.time = &time_;
    store_ =
        NewRetryStore(std::move(options), std::make_unique<FlakyStore>(&plan_));
  }
  void Build() { Build(time_.Options(milliseconds(200), milliseconds(30000))); }

  std::vector<uint8_t> ReadBlock(uint64_t block) {
    std::vector<uint8_t> out(kBlockSize);
    EXPECT_TRUE(store_->Read(block, 0, out).ok());
    return out;
  }

  FakeTime time_;
  FlakyStore::Plan plan_;
  std::unique_ptr<BlockStore> store_;
};

TEST_F(RetryStoreTest, SuccessIsOneAttemptWithoutPause) {
  Build();
  auto data = Pattern(1);
  ASSERT_TRUE(store_->Write(3, 0, data).ok());
  EXPECT_EQ(ReadBlock(3), data);
  EXPECT_EQ(plan_.Calls(Op::kWrite), 1);
  EXPECT_TRUE(time_.pauses().empty());
  EXPECT_EQ(Stat(*store_, "retry.retries"), 0u);
}

TEST_F(RetryStoreTest, RetryableWriteFailuresAreRetriedUntilSuccess) {
  Build();
  plan_.FailNext(Op::kWrite, 3, SlowDown());
  auto data = Pattern(2);
  ASSERT_TRUE(store_->Write(7, 0, data).ok());
  EXPECT_EQ(plan_.Calls(Op::kWrite), 4);
  EXPECT_EQ(time_.pauses().size(), 3u);
  EXPECT_EQ(ReadBlock(7), data);
  EXPECT_EQ(Stat(*store_, "retry.retries"), 3u);
  EXPECT_EQ(Stat(*store_, "retry.recovered"), 1u);
  EXPECT_EQ(Stat(*store_, "retry.giveups"), 0u);
}

TEST_F(RetryStoreTest, NonRetryableErrorPassesThroughAtOnce) {
  Build();
  plan_.FailNext(Op::kWrite, 1,
                 Status::Error(EACCES, "HTTP 403 SignatureDoesNotMatch"));
  Status s = store_->Write(1, 0, Pattern(3));
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_EQ(s.message(), "HTTP 403 SignatureDoesNotMatch");
  EXPECT_FALSE(s.retryable());
  EXPECT_EQ(plan_.Calls(Op::kWrite), 1);
  EXPECT_TRUE(time_.pauses().empty());
  EXPECT_EQ(Stat(*store_, "retry.retries"), 0u);
  EXPECT_EQ(Stat(*store_, "retry.giveups"), 0u);
}

TEST_F(RetryStoreTest, NonRetryableErrorAfterRetriesStopsRetrying) {
  Build();
  plan_.FailNext(Op::kWrite, 2, SlowDown());
  plan_.FailNext(Op::kWrite, 1, Status::Error(EPERM, "HTTP 403 Forbidden"));
  Status s = store_->Write(4, 0, Pattern(4));
  EXPECT_EQ(s.code(), EPERM);
  EXPECT_EQ(plan_.Calls(Op::kWrite), 3);
  EXPECT_EQ(ReadBlock(4), std::vector<uint8_t>(kBlockSize, 0));
  EXPECT_EQ(Stat(*store_, "retry.giveups"), 0u);
}

TEST_F(RetryStoreTest, PausesDoubleFromInitialAndEndExactlyAtBudget) {
  RetryOptions options =
      time_.Options(milliseconds(200), milliseconds(30000), 1.0);
  options.max_single_pause = milliseconds(30000);
  Build(options);
  plan_.FailAlways(Op::kWrite, SlowDown());
  Status s = store_->Write(5, 0, Pattern(5));
  EXPECT_EQ(s.code(), EIO);
  // 200 + 400 + ... + 12800 = 25400; the last pause is cut to the 4600 left.
  EXPECT_EQ(time_.pauses(), Ms({200, 400, 800, 1600, 3200, 6400, 12800, 4600}));
  EXPECT_EQ(time_.total_pause(), milliseconds(30000));
  EXPECT_EQ(plan_.Calls(Op::kWrite), 9);
}

TEST_F(RetryStoreTest, SinglePauseIsCapped) {
  RetryOptions options = time_.Options(milliseconds(200), milliseconds(5000));
  options.max_single_pause = milliseconds(1000);
  Build(options);
  plan_.FailAlways(Op::kRead, TimedOut());
  std::vector<uint8_t> out(kBlockSize);
  EXPECT_EQ(store_->Read(0, 0, out).code(), EIO);
  EXPECT_EQ(time_.pauses(), Ms({200, 400, 800, 1000, 1000, 1000, 600}));
}

TEST_F(RetryStoreTest, BudgetCountsTimeSpentInAttempts) {
  Build(time_.Options(milliseconds(200), milliseconds(1000), 1.0));
  plan_.attempt_cost = milliseconds(300);
  plan_.FailAlways(Op::kWrite, TimedOut());
  EXPECT_EQ(store_->Write(2, 0, Pattern(6)).code(), EIO);
  // t=0..300 attempt, pause 200, 500..800 attempt, pause cut to 200 (budget),
  // 1000..1300 last attempt; then no attempt starts past the budget.
  EXPECT_EQ(plan_.Calls(Op::kWrite), 3);
  EXPECT_EQ(time_.pauses(), Ms({200, 200}));
  EXPECT_LE(time_.elapsed(), milliseconds(1000) + plan_.attempt_cost);
}

TEST_F(RetryStoreTest, NoAttemptStartsAfterBudgetSpentByOneSlowAttempt) {
  Build(time_.Options(milliseconds(200), milliseconds(1000)));
  plan_.attempt_cost = milliseconds(1500);
  plan_.FailAlways(Op::kTrim, TimedOut());
  EXPECT_EQ(store_->Trim(2).code(), EIO);
  EXPECT_EQ(plan_.Calls(Op::kTrim), 1);
  EXPECT_TRUE(time_.pauses().empty());
}

TEST_F(RetryStoreTest, ZeroBudgetMeansNoRetry) {
  Build(time_.Options(milliseconds(200), milliseconds(0)));
  plan_.FailAlways(Op::kWrite, SlowDown());
  Status s = store_->Write(1, 0, Pattern(7));
  EXPECT_EQ(s.code(), EIO);
  EXPECT_NE(s.message().find("after 1 attempt "), std::string::npos)
      << s.message();
  EXPECT_EQ(plan_.Calls(Op::kWrite), 1);
  EXPECT_EQ(Stat(*store_, "retry.giveups"), 1u);
}

TEST_F(RetryStoreTest, JitterScalesEachPauseWithinItsCeiling) {
  RetryOptions options = time_.Options(milliseconds(200), milliseconds(30000));
  std::deque<double> draws = {0.5, 0.25, 1.0, 0.0, 0.125};
  options.random = [&draws] {
    double r = draws.front();
    draws.pop_front();
    return r;
  };
  Build(options);
  plan_.FailNext(Op::kWrite, 5, SlowDown());
  ASSERT_TRUE(store_->Write(0, 0, Pattern(8)).ok());
  // Ceilings 200, 400, 800, 1600, 3200; a zero draw still pauses 1 ms.
  EXPECT_EQ(time_.pauses(), Ms({100, 100, 800, 1, 400}));
}

TEST_F(RetryStoreTest, OutOfRangeRandomValuesAreClamped) {
  RetryOptions options = time_.Options(milliseconds(200), milliseconds(30000));
  std::deque<double> draws = {7.0, -3.0,
                              std::numeric_limits<double>::quiet_NaN()};
  options.random = [&draws] {
    double r = draws.front();
    draws.pop_front();
    return r;
  };
  Build(options);
  plan_.FailNext(Op::kFlush, 3, SlowDown());
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(time_.pauses(), Ms({200, 1, 1}));
}

TEST_F(RetryStoreTest, RandomJitterIsSpreadAndBounded) {
  RetryOptions options =
      time_.Options(milliseconds(200), milliseconds(20 * 60 * 1000));
  options.max_single_pause = milliseconds(10000);
  std::mt19937_64 engine(42);
  options.random = [&engine] {
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
  };
  Build(options);
  plan_.FailAlways(Op::kWrite, SlowDown());
  EXPECT_EQ(store_->Write(9, 0, Pattern(9)).code(), EIO);

  auto pauses = time_.pauses();
  ASSERT_GT(pauses.size(), 100u);
  EXPECT_EQ(time_.total_pause(), milliseconds(20 * 60 * 1000));
  double sum_of_fractions = 0;
  for (size_t i = 0; i + 1 < pauses.size(); ++i) {  // the last one is cut
    Clock::duration ceiling = std::min<Clock::duration>(
        milliseconds(200) * (1LL << std::min<size_t>(i, 20)),
        milliseconds(10000));
    EXPECT_GE(pauses[i], milliseconds(1)) << "pause " << i;
    EXPECT_LE(pauses[i], ceiling) << "pause " << i;
    sum_of_fractions += std::chrono::duration<double>(pauses[i]) /
                        std::chrono::duration<double>(ceiling);
  }
  double mean = sum_of_fractions / double(pauses.size() - 1);
  EXPECT_GT(mean, 0.35);
  EXPECT_LT(mean, 0.65);
}

TEST_F(RetryStoreTest, GiveUpReturnsEioAndLogsOneLineNamingEverything) {
  Build(time_.Options(milliseconds(200), milliseconds(30000), 1.0));
  plan_.FailAlways(Op::kWrite, TimedOut());
  ::testing::internal::CaptureStderr();
  Status s = store_->Write(42, 0, Pattern(10));
  std::string log = ::testing::internal::GetCapturedStderr();

  EXPECT_EQ(s.code(), EIO);
  EXPECT_FALSE(s.retryable()) << "a layer above must not retry again";
  for (const std::string& part :
       {std::string("write of block 42 (0x2a)"), std::string("9 attempts"),
        std::string("30.0 s"), std::string("GET timed out after 10 s")}) {
    EXPECT_NE(s.message().find(part), std::string::npos) << s.message();
    EXPECT_NE(log.find(part), std::string::npos) << log;
  }
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_EQ(Stat(*store_, "retry.giveups"), 1u);
  EXPECT_EQ(Stat(*store_, "retry.retries"), 8u);
  // Nothing is reported written that was not.
  EXPECT_EQ(ReadBlock(42), std::vector<uint8_t>(kBlockSize, 0));
}

TEST_F(RetryStoreTest, ReadIsRetriedAndReturnsTheData) {
  Build();
  auto data = Pattern(11);
  ASSERT_TRUE(store_->Write(8, 0, data).ok());
  plan_.FailNext(Op::kRead, 2, TimedOut());
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(store_->Read(8, 0, out).ok());
  EXPECT_EQ(out, data);
  EXPECT_EQ(plan_.Calls(Op::kRead), 3);
}

TEST_F(RetryStoreTest, PartialWriteIsRetriedWithTheSameRange) {
  Build();
  auto data = Pattern(12);
  plan_.FailNext(Op::kWrite, 1, SlowDown());
  std::span<const uint8_t> middle(data.data() + 100, 50);
  ASSERT_TRUE(store_->Write(6, 100, middle).ok());
  std::vector<uint8_t> expected(kBlockSize, 0);
  std::copy(middle.begin(), middle.end(), expected.begin() + 100);
  EXPECT_EQ(ReadBlock(6), expected);
  EXPECT_EQ(plan_.Calls(Op::kWrite), 2);
}

TEST_F(RetryStoreTest, TrimIsRetried) {
  Build();
  ASSERT_TRUE(store_->Write(10, 0, Pattern(13)).ok());
  plan_.FailNext(Op::kTrim, 2, SlowDown());
  ASSERT_TRUE(store_->Trim(10).ok());
  EXPECT_EQ(plan_.Calls(Op::kTrim), 3);
  EXPECT_EQ(ReadBlock(10), std::vector<uint8_t>(kBlockSize, 0));
}

TEST_F(RetryStoreTest, FlushIsRetried) {
  Build();
  plan_.FailNext(Op::kFlush, 4, SlowDown());
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(plan_.Calls(Op::kFlush), 5);
}

TEST_F(RetryStoreTest, FlushGiveUpIsNamed) {
  Build(time_.Options(milliseconds(200), milliseconds(1000)));
  plan_.FailAlways(Op::kFlush, SlowDown());
  Status s = store_->Flush();
  EXPECT_EQ(s.code(), EIO);
  EXPECT_EQ(s.message().rfind("flush failed after ", 0), 0u) << s.message();
}

TEST_F(RetryStoreTest, StartIsRetried) {
  Build();
  plan_.FailNext(Op::kStart, 2, Status::Error(ECONNREFUSED, "refused", true));
  ASSERT_TRUE(store_->Start().ok());
  EXPECT_EQ(plan_.Calls(Op::kStart), 3);
}

TEST_F(RetryStoreTest, QueryAllocationIsRetried) {
  Build();
  ASSERT_TRUE(store_->Write(2, 0, Pattern(14)).ok());
  plan_.FailNext(Op::kQuery, 1, SlowDown());
  std::vector<bool> allocated;
  ASSERT_TRUE(store_->QueryAllocation(0, 4, &allocated).ok());
  EXPECT_EQ(allocated, (std::vector<bool>{false, false, true, false}));
  EXPECT_EQ(plan_.Calls(Op::kQuery), 2);
}

TEST_F(RetryStoreTest, ShutdownIsNotRetried) {
  Build();
  plan_.FailNext(Op::kShutdown, 1, SlowDown());
  Status s = store_->Shutdown();
  EXPECT_EQ(s.code(), EIO);
  EXPECT_TRUE(s.retryable());  // passed through untouched
  EXPECT_EQ(plan_.Calls(Op::kShutdown), 1);
  EXPECT_TRUE(time_.pauses().empty());
}

TEST_F(RetryStoreTest, GeometryCapabilitiesAndStatsOfTheLayerBelowShowThrough) {
  Build();
  EXPECT_EQ(store_->geometry().block_size, kBlockSize);
  EXPECT_EQ(store_->geometry().block_count, kBlockCount);
  EXPECT_TRUE(store_->capabilities().partial_write);
  ASSERT_TRUE(store_->Write(1, 0, Pattern(15)).ok());
  std::vector<StatEntry> stats;
  store_->CollectStats(&stats);
  std::vector<std::string> names;
  for (const auto& e : stats) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"retry.retries", "retry.recovered",
                                             "retry.giveups", "retry.corrupt",
                                             "memory.reads", "memory.writes",
                                             "memory.trims"}));
  EXPECT_EQ(Stat(*store_, "memory.writes"), 1u);
}

// With the real clock and sleep: the default wiring works and the budget
// holds in wall-clock time.
TEST(RetryStoreRealClockTest, GivesUpWithinTheBudget) {
  FlakyStore::Plan plan;
  plan.FailAlways(Op::kWrite, SlowDown());
  RetryOptions options;
  options.initial_pause = milliseconds(5);
  options.max_pause_total = milliseconds(200);
  auto store = NewRetryStore(options, std::make_unique<FlakyStore>(&plan));
  std::vector<uint8_t> data(kBlockSize, 1);

  ::testing::internal::CaptureStderr();
  auto start = Clock::now();
  Status s = store->Write(0, 0, data);
  auto elapsed = Clock::now() - start;
  ::testing::internal::GetCapturedStderr();

  EXPECT_EQ(s.code(), EIO);
  EXPECT_GE(elapsed, milliseconds(200));
  // Generous: sleeps overshoot on a loaded machine; a hang would not pass.
  EXPECT_LT(elapsed, milliseconds(200 + 800));
  EXPECT_GT(plan.Calls(Op::kWrite), 3);
}

TEST(RetryStoreRealClockTest, ConcurrentOperationsRetryIndependently) {
  FlakyStore::Plan plan;
  constexpr int kThreads = 8;
  plan.FailNext(Op::kWrite, 2 * kThreads, SlowDown());
  RetryOptions options;
  options.initial_pause = milliseconds(1);
  options.max_pause_total = milliseconds(10000);
  auto store = NewRetryStore(options, std::make_unique<FlakyStore>(&plan));

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        uint64_t block = t * 4 + i;
        if (!store->Write(block, 0, Pattern(uint8_t(block))).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(plan.Calls(Op::kWrite), kThreads * 4 + 2 * kThreads);
  EXPECT_EQ(Stat(*store, "retry.retries"), uint64_t{2 * kThreads});
  for (uint64_t block = 0; block < kThreads * 4; ++block) {
    std::vector<uint8_t> out(kBlockSize);
    ASSERT_TRUE(store->Read(block, 0, out).ok());
    EXPECT_EQ(out, Pattern(uint8_t(block))) << "block " << block;
  }
}

// The helper for code that is not a BlockStore.
TEST(RetryPolicyTest, RetryWithBackoffRetriesAnyOperation) {
  FakeTime time;
  int calls = 0;
  Status s =
      RetryWithBackoff(time.Options(milliseconds(200), milliseconds(30000)),
                       "read of volume metadata",
                       [&] { return ++calls < 3 ? SlowDown() : Status::Ok(); });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(time.pauses(), Ms({200, 400}));
}

TEST(RetryPolicyTest, GiveUpNamesTheOperation) {
  FakeTime time;
  int calls = 0;
  ::testing::internal::CaptureStderr();
  Status s = RetryWithBackoff(
      time.Options(milliseconds(100), milliseconds(700)),
      "write of the mount token", [&] {
        ++calls;
        return Status::Error(ECONNRESET, "connection reset", true);
      });
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(s.code(), EIO);
  // Pauses 100, 200, 400 (700 in all), then one last attempt.
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(s.message(),
            "write of the mount token failed after 4 attempts in 0.7 s, "
            "giving up: connection reset (Connection reset by peer)");
  EXPECT_NE(log.find(s.message()), std::string::npos) << log;
}

// Corrupt reads are retried, each logged as a warning; a corruption that
// persists is named in the give-up line even when the last attempt failed
// otherwise (a timeout cut short by the end of the budget).
TEST(RetryPolicyTest, CorruptionIsRetriedWarnedAndNamedAtGiveUp) {
  FakeTime time;
  RetryPolicy policy(time.Options(milliseconds(100), milliseconds(700)));
  int calls = 0;
  ::testing::internal::CaptureStderr();
  Status s = policy.Run("read of block 5 (0x5) (object vol/00000005)", [&] {
    return ++calls < 4 ? Status::Corrupt("checksum mismatch")
                       : Status::Error(ETIMEDOUT, "timed out", true);
  });
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(s.code(), EIO);
  EXPECT_FALSE(s.retryable());
  EXPECT_NE(s.message().find("giving up: timed out"), std::string::npos);
  EXPECT_NE(s.message().find("an earlier attempt read a corrupt object: "
                             "checksum mismatch"),
            std::string::npos)
      << s.message();
  EXPECT_NE(log.find("warning: read of block 5 (0x5) (object "
                     "vol/00000005): attempt 1 read a corrupt object "
                     "(checksum mismatch)"),
            std::string::npos)
      << log;
  EXPECT_EQ(policy.stats().corrupt, 3u);
  // A corruption that goes away: recovered.
  calls = 0;
  EXPECT_TRUE(policy
                  .Run("read",
                       [&] {
                         return ++calls < 2 ? Status::Corrupt("flip")
                                            : Status::Ok();
                       })
                  .ok());
  EXPECT_EQ(policy.stats().recovered, 1u);
}

TEST(RetryPolicyTest, StatsCountAcrossOperations) {
  FakeTime time;
  RetryPolicy policy(time.Options(milliseconds(10), milliseconds(100)));
  int calls = 0;
  ASSERT_TRUE(
      policy.Run("a", [&] { return ++calls < 2 ? SlowDown() : Status::Ok(); })
          .ok());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(policy.Run("b", [] { return SlowDown(); }).code(), EIO);
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(policy.Run("c", [] { return Status::Invalid("bad"); }).code(),
            EINVAL);
  RetryStats stats = policy.stats();
  EXPECT_EQ(stats.recovered, 1u);
  EXPECT_EQ(stats.giveups, 1u);
  EXPECT_GE(stats.retries, 2u);
}

TEST(RetryPolicyTest, ResumeContinuesFromTheCallersFirstAttempt) {
  FakeTime time;
  RetryPolicy policy(time.Options(milliseconds(200), milliseconds(30000)));
  auto start = policy.Now();
  int calls = 0;
  Status s = policy.Resume(start, SlowDown(), "x", [&] {
    ++calls;
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(time.pauses(), Ms({200}));
  // An OK or non-retryable first result is returned without calling op.
  EXPECT_TRUE(policy
                  .Resume(start, Status::Ok(), "x",
                          [&] {
                            ++calls;
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(calls, 1);
}

// Each attempt runs with what is left of the budget as the transport's time
// limit (util/attempt_deadline.h), so the last one cannot overrun it.
TEST(RetryPolicyTest, EachAttemptGetsWhatIsLeftOfTheBudget) {
  using std::chrono::seconds;
  const milliseconds kTimeout =
      std::chrono::duration_cast<milliseconds>(seconds(10));
  EXPECT_EQ(AttemptTimeout(kTimeout), kTimeout);  // no retry layer above
  RetryOptions options;
  options.initial_pause = milliseconds(20);
  options.max_pause_total = milliseconds(300);
  std::vector<milliseconds> limits;
  Status s = RetryWithBackoff(options, "read of block 1", [&] {
    limits.push_back(AttemptTimeout(kTimeout));
    std::this_thread::sleep_for(milliseconds(40));
    return SlowDown();
  });
  EXPECT_EQ(s.code(), EIO);
  ASSERT_GE(limits.size(), 2u);
  EXPECT_LE(limits.front(), milliseconds(300));
  for (size_t i = 1; i < limits.size(); ++i) {
    EXPECT_LT(limits[i], limits[i - 1]) << "attempt " << i + 1;
    EXPECT_GE(limits[i], milliseconds(1));
  }
  EXPECT_EQ(AttemptTimeout(kTimeout), kTimeout);  // restored afterwards

  options.max_pause_total = milliseconds(0);  // no budget: no limit
  s = RetryWithBackoff(options, "read of block 1", [&] {
    limits.push_back(AttemptTimeout(kTimeout));
    return SlowDown();
  });
  EXPECT_EQ(limits.back(), kTimeout);
}

}  // namespace
}  // namespace usbd
