#include "nbd/listen.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "util/strings.h"

namespace usbd::nbd {
namespace {

// True when something is accepting connections on the unix socket `path`.
bool UnixSocketInUse(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  return ::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr),
                   sizeof addr) == 0;
}

// Whether a socket can be made at `path`, changing nothing.
Status CheckUnixPath(const std::string& path) {
  struct sockaddr_un addr = {};
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Status::Invalid("--listen: unix socket path '" + path +
                           "' is empty or too long");
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::Error(EEXIST,
                           "--listen: " + path + " exists and is not a socket");
    }
    if (UnixSocketInUse(path)) {
      return Status::Error(EADDRINUSE,
                           "--listen: another server is listening on " + path);
    }
  }
  return CheckCanCreate(path, "--listen");
}

Result<ListenSocket> ListenUnix(const std::string& path) {
  struct sockaddr_un addr = {};
  USBD_RETURN_IF_ERROR(CheckUnixPath(path));
  ::unlink(path.c_str());  // a stale socket: its server is gone
  ListenSocket out;
  out.fd.Reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!out.fd.valid()) return ErrnoStatus("socket");
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  // Created with mode 0600: only our user may connect.
  mode_t old_mask = ::umask(0177);
  int rc = ::bind(out.fd.get(), reinterpret_cast<struct sockaddr*>(&addr),
                  sizeof addr);
  ::umask(old_mask);
  if (rc != 0) return ErrnoStatus("--listen: cannot bind " + path);
  if (::listen(out.fd.get(), 64) != 0) return ErrnoStatus("listen " + path);
  out.unix_path = path;
  return out;
}

Result<ListenSocket> ListenTcp(const std::string& host_port) {
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    return Status::Invalid("--listen: expected tcp:HOST:PORT, got tcp:" +
                           host_port);
  }
  std::string host = host_port.substr(0, colon);
  std::string port = host_port.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  struct addrinfo* result = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(),
                         &hints, &result);
  if (rc != 0) {
    return Status::Invalid("--listen: cannot resolve tcp:" + host_port + ": " +
                           ::gai_strerror(rc));
  }
  Status last = Status::Invalid("--listen: no address for tcp:" + host_port);
  ListenSocket out;
  for (struct addrinfo* ai = result; ai; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                   ai->ai_protocol));
    if (!fd.valid()) continue;
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 ||
        ::listen(fd.get(), 64) != 0) {
      last = ErrnoStatus("--listen: cannot listen on tcp:" + host_port);
      continue;
    }
    out.fd = std::move(fd);
    break;
  }
  ::freeaddrinfo(result);
  if (!out.fd.valid()) return last;
  struct sockaddr_storage bound;
  socklen_t length = sizeof bound;
  if (::getsockname(out.fd.get(), reinterpret_cast<struct sockaddr*>(&bound),
                    &length) != 0) {
    return ErrnoStatus("getsockname");
  }
  out.tcp_port = ntohs(bound.ss_family == AF_INET6
                           ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  out.tcp_host = host.empty() ? "localhost" : host;
  return out;
}

}  // namespace

Status CheckListenAddress(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) return CheckUnixPath(address.substr(5));
  // TCP: a trial bind, closed at once, finds a port in use or an address
  // that is not this host's.
  Result<ListenSocket> trial = Listen(address);
  return trial.ok() ? Status::Ok() : trial.status();
}

std::string NbdUri(const ListenSocket& socket, const std::string& export_name) {
  const std::string path = "/" + UriEncode(export_name, /*keep_slash=*/true);
  if (!socket.unix_path.empty()) {
    return "nbd+unix://" + path +
           "?socket=" + UriEncode(socket.unix_path, /*keep_slash=*/true);
  }
  // An IPv6 address is bracketed; a name or an IPv4 address needs no
  // encoding that getaddrinfo() accepted.
  const std::string host = socket.tcp_host.find(':') != std::string::npos
                               ? "[" + socket.tcp_host + "]"
                               : socket.tcp_host;
  return "nbd://" + host + ":" + std::to_string(socket.tcp_port) + path;
}

Result<ListenSocket> Listen(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) return ListenUnix(address.substr(5));
  if (address.rfind("tcp:", 0) == 0) return ListenTcp(address.substr(4));
  return Status::Invalid("--listen: '" + address +
                         "' is not unix:PATH or tcp:HOST:PORT");
}

}  // namespace usbd::nbd
