// TcpStore: a key-value rendezvous store client speaking PyTorch's TCPStore protocol
// (tcp_store_protocol.h), and TcpStoreServer, a compatible server running on a background thread.
// Ranks meet through it: they publish addresses, wait for each other, and record faults. The protocol
// facts relied on are listed at the top of tcp_store_protocol.h.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "distributed/socket.h"

namespace shardlm {

// A wait or get that ran past its timeout; the connection stays usable.
class StoreTimeoutError : public Error {
 public:
  StoreTimeoutError(const std::string& msg, std::vector<std::string> keys)
      : Error(msg), keys_(std::move(keys)) {}
  const std::vector<std::string>& keys() const { return keys_; }  // the keys waited for

 private:
  std::vector<std::string> keys_;
};

class TcpStoreServer;

// SHARDLM_STORE_SECRET, or "" when unset: the shared secret a store hosted by shardlm requires of its clients
// and that shardlm's clients present (tcp_store_protocol.h says how).
std::string store_secret_from_env();

class TcpStore {
 public:
  // Connects to a server at host:port, retrying refused connections until `timeout`, then validates
  // (magic number), pings, and presents `secret` (when not empty) or checks that none is required. A missing
  // or wrong secret is an Error saying so, at once. `timeout` also bounds every later reply and is the
  // default wait.
  static std::shared_ptr<TcpStore> connect(const std::string& host, int port, std::chrono::milliseconds timeout,
                                           const std::string& secret = store_secret_from_env());
  // Starts a TcpStoreServer on `port` (0 picks one) requiring `secret` (when not empty) and connects to it;
  // the store owns the server.
  static std::shared_ptr<TcpStore> host(int port, std::chrono::milliseconds timeout,
                                        const std::string& display_host = "127.0.0.1",
                                        const std::string& secret = store_secret_from_env());
  ~TcpStore();
  TcpStore(const TcpStore&) = delete;
  TcpStore& operator=(const TcpStore&) = delete;

  void set(const std::string& key, const std::string& value);
  // Waits up to timeout() for the key, then returns its value.
  std::string get(const std::string& key);
  std::string get(const std::string& key, std::chrono::milliseconds timeout);
  // Adds delta to the integer stored (as decimal text) under key, creating it at 0; returns the sum.
  int64_t add(const std::string& key, int64_t delta);
  // Stores `desired` when the current value equals `expected` (a missing key counts as equal to "").
  // Returns the value stored afterwards.
  std::string compare_set(const std::string& key, const std::string& expected, const std::string& desired);
  // True when every key exists (does not wait).
  bool check(const std::vector<std::string>& keys);
  // Blocks until every key exists; StoreTimeoutError after the timeout.
  void wait(const std::vector<std::string>& keys);
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout);
  // Waits for all keys, then returns their values in order.
  std::vector<std::string> multi_get(const std::vector<std::string>& keys);
  void multi_set(const std::vector<std::string>& keys, const std::vector<std::string>& values);
  void append(const std::string& key, const std::string& value);
  bool delete_key(const std::string& key);
  int64_t num_keys();

  std::chrono::milliseconds timeout() const;
  // Bounds replies and default waits from now on (fault handling shortens it).
  void set_timeout(std::chrono::milliseconds timeout);
  const std::string& endpoint() const { return endpoint_; }  // "host:port"
  int port() const { return port_; }

 private:
  TcpStore(net::Socket sock, std::string host, int port, std::chrono::milliseconds timeout);
  net::Clock::time_point reply_deadline() const;
  void send(const std::string& bytes, const char* op);
  void recv(void* data, size_t n, const char* op);
  template <typename T>
  T recv_value(const char* op);
  std::string recv_bytes(const char* op);
  void wait_locked(const std::vector<std::string>& wire_keys, const std::vector<std::string>& user_keys,
                   std::chrono::milliseconds timeout);
  [[noreturn]] void lost(const char* op, const std::exception& e);

  mutable std::mutex mu_;
  net::Socket sock_;
  std::string host_;
  int port_;
  std::string endpoint_;
  std::chrono::milliseconds timeout_;
  bool broken_ = false;  // a failed exchange left the stream out of step; every later call fails
  std::string broken_reason_;
  std::unique_ptr<TcpStoreServer> server_;  // set by host()
};

// A TCPStore-compatible server: one poll loop on a background thread, all state in memory.
class TcpStoreServer {
 public:
  // Listens at `port` (0 picks a free one) on the address `host` names (net::listen_on: loopback only for a
  // loopback name, so a single-node job is not reachable from the network). Throws Error naming host:port
  // when the port is in use.
  // `secret`: when not empty, clients must present it first (tcp_store_protocol.h).
  explicit TcpStoreServer(int port, const std::string& host = "127.0.0.1", const std::string& secret = "");
  ~TcpStoreServer();  // stops the loop and closes every connection
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  int port() const { return port_; }
  // Where a client on this host reaches the server (the bound address; 127.0.0.1 for every interface).
  std::string connect_host() const { return net::local_connect_host(listener_.fd()); }

 private:
  struct State;
  void run();

  net::Socket listener_;
  int port_ = 0;
  int wake_fds_[2] = {-1, -1};  // pipe: the destructor writes to stop the loop
  std::unique_ptr<State> state_;
  std::thread thread_;
};

}  // namespace shardlm
