// libFuzzer target: the NBD handshake and request parser. The fuzz input is
// the byte stream a client sends; a real Connection serves it over a
// socketpair against a small in-memory volume, exactly as in the daemon.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <thread>

#include "nbd/connection.h"
#include "store/memory_store.h"
#include "util/log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace usbd;
  SetLogLevel(LogLevel::kError);
  auto store = NewMemoryStore({{4096, 64}, false});
  if (!store->Start().ok()) return 0;
  nbd::Frontend frontend(store.get());
  nbd::ExportInfo info;
  info.name = "fuzz";
  info.size = frontend.size();
  info.preferred_block_size = frontend.block_size();

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  Fd client(fds[0]);
  nbd::Connection connection(Fd(fds[1]), &frontend, info, 2);

  std::thread writer([&] {
    (void)WriteAll(client.get(), {data, size});
    ::shutdown(client.get(), SHUT_WR);
  });
  std::thread drainer([&] {
    uint8_t sink[65536];
    while (::read(client.get(), sink, sizeof sink) > 0) {
    }
  });
  connection.Serve();
  // The server has stopped reading; unblock a writer stuck on a full socket.
  ::shutdown(client.get(), SHUT_RDWR);
  writer.join();
  drainer.join();
  return 0;
}
