// A tiny real HTTP/1.1 server on a loopback port for the unit tests of the
// HTTP client and stores: each request goes to a handler that returns the
// raw bytes to answer (so tests can send malformed or truncated responses)
// and whether to close the connection afterwards. One thread per
// connection; keep-alive supported.
#ifndef USBD_TESTS_UNIT_TESTING_TEST_HTTP_SERVER_H_
#define USBD_TESTS_UNIT_TESTING_TEST_HTTP_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace usbd::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;                          // path and query, raw
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct CannedResponse {
  std::string raw;     // status line, headers and body, sent verbatim
  bool close = false;  // close the connection after sending
  bool hang = false;   // send nothing and keep the connection open
};

// "HTTP/1.1 <status>" with Content-Length set from `body` unless
// `extra_headers` sets it (for HEAD).
inline CannedResponse Respond(int status, const std::string& body = "",
                              const std::string& extra_headers = "") {
  std::string length;
  if (extra_headers.find("Content-Length:") == std::string::npos) {
    length = "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return {"HTTP/1.1 " + std::to_string(status) + " X\r\n" + length +
              extra_headers + "\r\n" + body,
          false, false};
}

class TestHttpServer {
 public:
  using Handler = std::function<CannedResponse(const ReceivedRequest&)>;

  explicit TestHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestHttpServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : connection_threads_) t.join();
    ::close(listen_fd_);
  }

  int port() const { return port_; }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/";
  }
  int connections() const { return connections_.load(); }
  std::vector<ReceivedRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      connections_.fetch_add(1);
      std::lock_guard lock(mu_);
      open_fds_.push_back(fd);
      connection_threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string buffer;
    char chunk[65536];
    while (true) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n <= 0) return Close(fd);
        buffer.append(chunk, n);
      }
      ReceivedRequest request;
      std::string head = buffer.substr(0, end);
      buffer.erase(0, end + 4);
      size_t line_end = head.find("\r\n");
      std::string line = head.substr(0, line_end);
      size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
      request.method = line.substr(0, sp1);
      request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t next = head.find("\r\n", pos);
        if (next == std::string::npos) next = head.size();
        std::string header = head.substr(pos, next - pos);
        size_t colon = header.find(':');
        if (colon != std::string::npos) {
          std::string name = header.substr(0, colon);
          for (char& c : name) c = static_cast<char>(std::tolower(c));
          size_t v = header.find_first_not_of(' ', colon + 1);
          request.headers[name] =
              v == std::string::npos ? "" : header.substr(v);
        }
        pos = next + 2;
      }
      size_t length = 0;
      if (request.headers.count("content-length")) {
        length = std::stoul(request.headers["content-length"]);
      }
      while (buffer.size() < length) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n <= 0) return Close(fd);
        buffer.append(chunk, n);
      }
      request.body = buffer.substr(0, length);
      buffer.erase(0, length);
      CannedResponse response = handler_(request);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
      if (response.hang) {
        while (::read(fd, chunk, sizeof chunk) > 0) {
        }
        return Close(fd);
      }
      size_t sent = 0;
      while (sent < response.raw.size()) {
        ssize_t n = ::send(fd, response.raw.data() + sent,
                           response.raw.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return Close(fd);
        sent += n;
      }
      if (response.close) return Close(fd);
    }
  }

  void Close(int fd) {
    std::lock_guard lock(mu_);
    std::erase(open_fds_, fd);
    ::close(fd);
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<int> open_fds_;
  std::vector<std::thread> connection_threads_;
  std::vector<ReceivedRequest> requests_;
};

}  // namespace usbd::testing

#endif  // USBD_TESTS_UNIT_TESTING_TEST_HTTP_SERVER_H_
