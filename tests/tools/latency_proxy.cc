// latency_proxy: a TCP proxy that puts a network's distance between a client
// and a server on loopback, for the benchmarks (bench/peers.sh --latency)
// and the tests.
//
//   latency_proxy LISTEN_PORT TARGET_HOST:TARGET_PORT DELAY_MS [MBIT_PER_S]
//
// Every byte is held DELAY_MS/2 in each direction before it is passed on,
// as on a link whose round trip is DELAY_MS: a request's first response
// byte arrives DELAY_MS after the request left, and a connection's setup
// costs as much, but the link is not stop-and-wait: bytes in flight do not
// wait for each other, so throughput is not bounded by the delay (only by
// MBIT_PER_S when given, a cap per direction of each connection, and by
// what the endpoints keep in flight — which is the point). Data is never
// changed, reordered or dropped. Prints "listening PORT" once ready; runs
// until killed. Each connection has a reader and a writer thread per
// direction; a chunk is up to 256 KiB, so the proxy itself moves GB/s.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Chunk {
  Clock::time_point due;
  std::vector<char> bytes;  // empty: the sender closed its side
};

// One direction of one connection: a delay line from `from` to `to`.
class Pipe {
 public:
  Pipe(int from, int to, Clock::duration delay, double bytes_per_sec)
      : from_(from), to_(to), delay_(delay), rate_(bytes_per_sec) {}

  void Read() {
    while (true) {
      std::vector<char> buffer(256 * 1024);
      ssize_t n = read(from_, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) buffer.clear();
      buffer.resize(n > 0 ? static_cast<size_t>(n) : 0);
      const bool end = buffer.empty();
      {
        std::lock_guard lock(mu_);
        queue_.push_back({Clock::now() + delay_, std::move(buffer)});
      }
      cv_.notify_one();
      if (end) return;
    }
  }

  void Write() {
    Clock::time_point free_at = Clock::now();  // the bandwidth cap's clock
    while (true) {
      Chunk chunk;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        chunk = std::move(queue_.front());
        queue_.pop_front();
      }
      std::this_thread::sleep_until(chunk.due);
      if (chunk.bytes.empty()) {
        shutdown(to_, SHUT_WR);
        return;
      }
      if (rate_ > 0) {
        free_at =
            std::max(free_at, Clock::now()) +
            std::chrono::duration_cast<Clock::duration>(
                std::chrono::duration<double>(chunk.bytes.size() / rate_));
        std::this_thread::sleep_until(free_at);
      }
      size_t done = 0;
      while (done < chunk.bytes.size()) {
        ssize_t n =
            write(to_, chunk.bytes.data() + done, chunk.bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {  // the receiver is gone: stop reading its peer too
          shutdown(from_, SHUT_RD);
          Drain();
          return;
        }
        done += static_cast<size_t>(n);
      }
    }
  }

 private:
  // Discards what is queued until the reader ends.
  void Drain() {
    while (true) {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty(); });
      const bool end = queue_.front().bytes.empty();
      queue_.pop_front();
      if (end) return;
    }
  }

  const int from_, to_;
  const Clock::duration delay_;
  const double rate_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> queue_;
};

int Connect(const addrinfo* target) {
  int fd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, target->ai_addr, target->ai_addrlen) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void Serve(int client, const addrinfo* target, Clock::duration one_way,
           double rate) {
  // The connection's setup crosses the link too: one round trip.
  std::this_thread::sleep_for(2 * one_way);
  int server = Connect(target);
  if (server < 0) {
    close(client);
    return;
  }
  NoDelay(client);
  NoDelay(server);
  Pipe up(client, server, one_way, rate), down(server, client, one_way, rate);
  std::thread threads[] = {
      std::thread(&Pipe::Read, &up), std::thread(&Pipe::Write, &up),
      std::thread(&Pipe::Read, &down), std::thread(&Pipe::Write, &down)};
  for (std::thread& t : threads) t.join();
  close(client);
  close(server);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr,
                 "usage: latency_proxy LISTEN_PORT HOST:PORT DELAY_MS "
                 "[MBIT_PER_S]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const int listen_port = std::atoi(argv[1]);
  const std::string target_text = argv[2];
  const size_t colon = target_text.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "latency_proxy: target must be HOST:PORT\n");
    return 2;
  }
  addrinfo hints{}, *target = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(target_text.substr(0, colon).c_str(),
                  target_text.substr(colon + 1).c_str(), &hints,
                  &target) != 0) {
    std::fprintf(stderr, "latency_proxy: cannot resolve %s\n", argv[2]);
    return 2;
  }
  const auto one_way = std::chrono::microseconds(
      static_cast<int64_t>(std::atof(argv[3]) * 1000 / 2));
  const double rate = argc == 5 ? std::atof(argv[4]) * 1e6 / 8 : 0;

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(listen_port));
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
          0 ||
      listen(listener, 1024) != 0) {
    std::perror("latency_proxy: bind/listen");
    return 1;
  }
  socklen_t length = sizeof(address);
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::printf("listening %d\n", ntohs(address.sin_port));
  std::fflush(stdout);
  while (true) {
    int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::thread(Serve, client, target, one_way, rate).detach();
  }
}
