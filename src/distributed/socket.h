// Small blocking-with-deadline TCP helpers shared by the store client and server: connect, listen,
// send-all and receive-exactly, each bounded by a deadline so nothing waits forever.
#pragma once
#include <chrono>
#include <cstddef>
#include <string>

#include "core/error.h"

namespace shardlm::net {

using Clock = std::chrono::steady_clock;

// The peer closed the connection, or it was reset.
class ClosedError : public Error {
 public:
  using Error::Error;
};
// The deadline passed before the bytes moved.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

// Owns one file descriptor.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { close(); }
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void close();
  int release() {  // gives up ownership without closing
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// "host:port", with brackets around IPv6 literals.
std::string endpoint(const std::string& host, int port);

// One attempt to connect to each address `host` resolves to, bounded by `deadline`. TCP_NODELAY is set.
// Throws Error with the reason ("Connection refused", "no such host", ...) when none accepts.
Socket connect_once(const std::string& host, int port, Clock::time_point deadline);

// A listening socket at `port` (0 picks a free port) on the address `host` names: only the loopback interface
// for a loopback name ("localhost", 127.x.x.x, ::1), that address for a local one, and every interface (dual
// stack when the host has IPv6) for "" or a name that is not a local address (a NAT or DNS alias). Throws
// Error naming host:port when the port is taken.
Socket listen_on(int port, const std::string& host);
int local_port(int fd);
// The numeric address a listening socket is bound to, or "127.0.0.1" when it listens on every interface: where
// a client on this host reaches it.
std::string local_connect_host(int fd);

// Writes all n bytes (never raises SIGPIPE). Throws ClosedError / TimeoutError / Error.
void send_all(int fd, const void* data, size_t n, Clock::time_point deadline);
// Waits until fd is readable (data or EOF). false when the deadline passed first.
bool wait_readable(int fd, Clock::time_point deadline);
// Reads exactly n bytes. Throws ClosedError on EOF, TimeoutError when the deadline passes.
void recv_exact(int fd, void* data, size_t n, Clock::time_point deadline);

// Which local IP address routes to `remote_host` (no packet is sent); "" when unknown.
std::string local_address_towards(const std::string& remote_host);
// True for localhost, 127.0.0.0/8 and ::1.
bool is_loopback_host(const std::string& host);

}  // namespace shardlm::net
