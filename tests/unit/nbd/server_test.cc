#include "nbd/server.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "nbd/listen.h"
#include "store/memory_store.h"

namespace usbd::nbd {
namespace {

TEST(ServeTest, StopFdStopsServingAndReturnsZero) {
  std::unique_ptr<BlockStore> store = NewMemoryStore({{4096, 16}, false});
  ASSERT_TRUE(store->Start().ok());
  Frontend frontend(store.get());
  Result<ListenSocket> listener = Listen("tcp:127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  int no_signal[2];  // a signal fd that never becomes readable
  ASSERT_EQ(::pipe(no_signal), 0);
  Fd stop(::eventfd(0, EFD_CLOEXEC));
  ServerOptions options;
  options.stop_fd = stop.get();

  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    uint64_t one = 1;
    ASSERT_EQ(::write(stop.get(), &one, sizeof one), sizeof one);
  });
  Result<int> served =
      Serve(options, &frontend, listener->fd.get(), no_signal[0]);
  stopper.join();
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  EXPECT_EQ(*served, 0);
  ::close(no_signal[0]);
  ::close(no_signal[1]);
  EXPECT_TRUE(store->Shutdown().ok());
}

}  // namespace
}  // namespace usbd::nbd
