// TCP helpers with deadlines (poll + non-blocking connect); see socket.h.
#include "distributed/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace shardlm::net {
namespace {

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1000000 ? 1000000 : (int)left;
}

// Waits for `events` on fd; returns revents, 0 on timeout.
int poll_one(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rv = ::poll(&p, 1, remaining_ms(deadline));
    if (rv < 0 && errno == EINTR) continue;
    if (rv < 0) fail("poll failed: ", std::strerror(errno));
    if (rv == 0) {
      if (Clock::now() >= deadline) return 0;
      continue;
    }
    return p.revents;
  }
}

void set_nonblocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) fail("fcntl failed: ", std::strerror(errno));
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (::fcntl(fd, F_SETFL, flags) < 0) fail("fcntl failed: ", std::strerror(errno));
}

struct AddrInfoDeleter {
  void operator()(addrinfo* p) const { freeaddrinfo(p); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

AddrInfoPtr resolve(const std::string& host, int port, int socktype, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = flags;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rv = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rv != 0) fail("cannot resolve host '", host, "': ", gai_strerror(rv));
  return AddrInfoPtr(res);
}

// Tries one resolved address; returns the connected fd or -1 with `reason` set.
int try_connect(const addrinfo* ai, Clock::time_point deadline, std::string& reason) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    reason = std::strerror(errno);
    return -1;
  }
  Socket guard(fd);
  set_nonblocking(fd, true);
  int rv = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rv < 0 && errno != EINPROGRESS) {
    reason = std::strerror(errno);
    return -1;
  }
  if (rv < 0) {
    int revents = poll_one(fd, POLLOUT, deadline);
    if (revents == 0) {
      reason = "connect timed out";
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      reason = std::strerror(err);
      return -1;
    }
  }
  set_nonblocking(fd, false);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return guard.release();
}

}  // namespace

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string endpoint(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return str_cat("[", host, "]:", port);
  return str_cat(host, ":", port);
}

Socket connect_once(const std::string& host, int port, Clock::time_point deadline) {
  auto addrs = resolve(host, port, SOCK_STREAM, 0);
  std::string reason = "no address";
  for (const addrinfo* ai = addrs.get(); ai; ai = ai->ai_next) {
    int fd = try_connect(ai, deadline, reason);
    if (fd >= 0) return Socket(fd);
  }
  fail("cannot connect to ", endpoint(host, port), ": ", reason);
}

namespace {


// Binds and listens on one address; the fd, or -1 with `err` set.
int bind_listen(const sockaddr* addr, socklen_t len, int family, int& err) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  Socket guard(fd);
  int one = 1, zero = 0;
  // SO_REUSEADDR only lets us reuse a port whose old connections sit in TIME_WAIT; a live listener on the
  // port still makes bind fail with EADDRINUSE.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (::bind(fd, addr, len) < 0 || ::listen(fd, 1024) < 0) {
    err = errno;
    return -1;
  }
  return guard.release();
}

int listen_every_interface(int port, int& err) {
  sockaddr_in6 a6{};
  a6.sin6_family = AF_INET6;
  a6.sin6_addr = in6addr_any;
  a6.sin6_port = htons((uint16_t)port);
  int fd = bind_listen((sockaddr*)&a6, sizeof a6, AF_INET6, err);
  if (fd >= 0 || err == EADDRINUSE || err == EACCES) return fd;
  sockaddr_in a4{};
  a4.sin_family = AF_INET;
  a4.sin_addr.s_addr = htonl(INADDR_ANY);
  a4.sin_port = htons((uint16_t)port);
  return bind_listen((sockaddr*)&a4, sizeof a4, AF_INET, err);
}

}  // namespace

Socket listen_on(int port, const std::string& host) {
  int err = 0, fd = -1;
  if (host == "localhost" || host == "ip6-localhost") {
    sockaddr_in a4{};  // clients that resolve the name to ::1 first fall through to 127.0.0.1
    a4.sin_family = AF_INET;
    a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a4.sin_port = htons((uint16_t)port);
    fd = bind_listen((sockaddr*)&a4, sizeof a4, AF_INET, err);
  } else if (!host.empty()) {
    bool not_local = true;
    auto addrs = resolve(host, port, SOCK_STREAM, AI_PASSIVE);
    for (const addrinfo* ai = addrs.get(); ai && fd < 0; ai = ai->ai_next) {
      fd = bind_listen(ai->ai_addr, ai->ai_addrlen, ai->ai_family, err);
      if (fd < 0 && err != EADDRNOTAVAIL) not_local = false;
    }
    // Not an address of this host (a NAT or DNS alias of it): every interface, as before.
    if (fd < 0 && not_local && !is_loopback_host(host)) fd = listen_every_interface(port, err);
  } else {
    fd = listen_every_interface(port, err);
  }
  if (fd < 0) {
    if (err == EADDRINUSE)
      fail("cannot host the rendezvous store at ", endpoint(host, port),
           ": the port is already in use (another job or store is listening there; choose a free port "
           "with MASTER_PORT / --master-port, or --standalone)");
    fail("cannot host the rendezvous store at ", endpoint(host, port), ": ", std::strerror(err));
  }
  return Socket(fd);
}

std::string local_connect_host(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, (sockaddr*)&ss, &len) < 0) return "127.0.0.1";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* a = (const sockaddr_in*)&ss;
    if (a->sin_addr.s_addr == htonl(INADDR_ANY)) return "127.0.0.1";
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    return buf;
  }
  const auto* a = (const sockaddr_in6*)&ss;
  if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr)) return "127.0.0.1";
  ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
  return buf;
}

int local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, (sockaddr*)&ss, &len) < 0) fail("getsockname failed: ", std::strerror(errno));
  if (ss.ss_family == AF_INET6) return ntohs(((sockaddr_in6*)&ss)->sin6_port);
  return ntohs(((sockaddr_in*)&ss)->sin_port);
}

void send_all(int fd, const void* data, size_t n, Clock::time_point deadline) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t rv = ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (rv > 0) {
      p += rv;
      n -= (size_t)rv;
      continue;
    }
    if (rv < 0 && errno == EINTR) continue;
    if (rv < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int revents = poll_one(fd, POLLOUT, deadline);
      if (revents == 0) throw TimeoutError("timed out sending to the peer");
      continue;
    }
    if (rv < 0 && (errno == EPIPE || errno == ECONNRESET))
      throw ClosedError(str_cat("connection closed by the peer (", std::strerror(errno), ")"));
    fail("send failed: ", std::strerror(errno));
  }
}

bool wait_readable(int fd, Clock::time_point deadline) { return poll_one(fd, POLLIN, deadline) != 0; }

void recv_exact(int fd, void* data, size_t n, Clock::time_point deadline) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t rv = ::recv(fd, p, n, MSG_DONTWAIT);
    if (rv > 0) {
      p += rv;
      n -= (size_t)rv;
      continue;
    }
    if (rv == 0) throw ClosedError("connection closed by the peer");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (poll_one(fd, POLLIN, deadline) == 0) throw TimeoutError("timed out waiting for the peer's reply");
      continue;
    }
    if (errno == ECONNRESET) throw ClosedError("connection reset by the peer");
    fail("recv failed: ", std::strerror(errno));
  }
}

std::string local_address_towards(const std::string& remote_host) {
  try {
    auto addrs = resolve(remote_host, 9, SOCK_DGRAM, 0);
    for (const addrinfo* ai = addrs.get(); ai; ai = ai->ai_next) {
      Socket s(::socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (!s.valid()) continue;
      // connect() on a UDP socket only picks the route and source address; nothing is sent.
      if (::connect(s.fd(), ai->ai_addr, ai->ai_addrlen) < 0) continue;
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      if (::getsockname(s.fd(), (sockaddr*)&ss, &len) < 0) continue;
      char buf[INET6_ADDRSTRLEN] = {0};
      const void* src = ss.ss_family == AF_INET6 ? (const void*)&((sockaddr_in6*)&ss)->sin6_addr
                                                 : (const void*)&((sockaddr_in*)&ss)->sin_addr;
      if (::inet_ntop(ss.ss_family, src, buf, sizeof(buf))) return buf;
    }
  } catch (const Error&) {
  }
  return "";
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "ip6-localhost") return true;
  return host.rfind("127.", 0) == 0;
}

}  // namespace shardlm::net
