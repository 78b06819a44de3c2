// TcpStore client: requests and replies per tcp_store_protocol.h, each bounded by the store timeout.
#include "distributed/tcp_store.h"

#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "core/env_vars.h"
#include "distributed/tcp_store_protocol.h"

namespace shardlm {

using tcpstore::QueryType;
using tcpstore::Writer;

namespace {

// torch's TCPStore client puts "/" before every key; we do too so both clients share keys.
std::string wire_key(const std::string& key) { return "/" + key; }

std::string seconds_text(std::chrono::milliseconds ms) {
  std::ostringstream os;
  os << ms.count() / 1000.0 << " s";
  return os.str();
}

std::string join_keys(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); i++) out += (i ? ", " : "") + keys[i];
  return out;
}

// The peer accepted the connection but is not a TCPStore server: retrying will not help.
class NotATcpStore : public Error {
 public:
  using Error::Error;
};

// The store wants a secret this process lacks, or has another one: retrying will not help.
class StoreRefused : public Error {
 public:
  using Error::Error;
};

}  // namespace

TcpStore::TcpStore(net::Socket sock, std::string host, int port, std::chrono::milliseconds timeout)
    : sock_(std::move(sock)),
      host_(std::move(host)),
      port_(port),
      endpoint_(net::endpoint(host_, port)),
      timeout_(timeout) {}

TcpStore::~TcpStore() {
  sock_.close();
  server_.reset();
}

std::string store_secret_from_env() { return env_value("SHARDLM_STORE_SECRET").value_or(""); }

std::shared_ptr<TcpStore> TcpStore::connect(const std::string& host, int port, std::chrono::milliseconds timeout,
                                            const std::string& secret) {
  const auto start = net::Clock::now();
  const auto deadline = start + timeout;
  auto backoff = std::chrono::milliseconds(10);
  std::string last_error;
  for (int attempt = 0;; attempt++) {
    try {
      // Each attempt gets at least a moment, even when the overall timeout is tiny.
      auto attempt_deadline = std::max(deadline, net::Clock::now() + std::chrono::milliseconds(200));
      net::Socket sock = net::connect_once(host, port, attempt_deadline);
      Writer hello(QueryType::VALIDATE);
      hello.value<uint32_t>(tcpstore::kValidationMagic);
      const uint32_t nonce = (uint32_t)::getpid();
      hello.u8((uint8_t)QueryType::PING).value<uint32_t>(nonce);
      net::send_all(sock.fd(), hello.data().data(), hello.data().size(), attempt_deadline);
      uint32_t echoed = 0;
      net::recv_exact(sock.fd(), &echoed, sizeof(echoed), attempt_deadline);
      if (echoed != nonce)
        throw NotATcpStore(str_cat("the server at ", net::endpoint(host, port), " answered the ping with ",
                                   echoed, " instead of ", nonce, ": it does not speak the TCPStore protocol"));
      // Does the store want a secret? It answers the key count with -1 if so; only then is ours sent (never to
      // a store that did not ask, e.g. torch's). After it, a closed connection means ours is not the store's.
      const std::string where = net::endpoint(host, port);
      auto count_keys = [&] {
        const std::string ask = Writer(QueryType::GETNUMKEYS).data();
        net::send_all(sock.fd(), ask.data(), ask.size(), attempt_deadline);
        int64_t keys = 0;
        net::recv_exact(sock.fd(), &keys, sizeof(keys), attempt_deadline);
        return keys;
      };
      if (count_keys() == tcpstore::kSecretRequiredReply) {
        if (secret.empty())
          throw StoreRefused(str_cat("the rendezvous store at ", where, " requires a shared secret: set "
                                     "SHARDLM_STORE_SECRET to the one the store was started with"));
        const std::string auth = Writer(QueryType::SET).bytes(tcpstore::kSecretKey).bytes(secret).data();
        net::send_all(sock.fd(), auth.data(), auth.size(), attempt_deadline);
        try {
          if (count_keys() < 0) throw net::ClosedError("the store still asks for a secret");
        } catch (const net::ClosedError&) {
          throw StoreRefused(str_cat("the rendezvous store at ", where,
                                     " refused this process's SHARDLM_STORE_SECRET: it differs from the store's"));
        }
      }
      return std::shared_ptr<TcpStore>(new TcpStore(std::move(sock), host, port, timeout));
    } catch (const net::ClosedError& e) {
      last_error = e.what();  // a server with a full backlog may drop us; retry
    } catch (const net::TimeoutError& e) {
      last_error = e.what();
    } catch (const NotATcpStore&) {
      throw;
    } catch (const StoreRefused&) {
      throw;
    } catch (const Error& e) {
      last_error = e.what();
    }
    const auto now = net::Clock::now();
    if (now >= deadline)
      fail("could not connect to the rendezvous store (TCPStore) at ", net::endpoint(host, port), " within ",
           seconds_text(timeout), " (", attempt + 1, " attempts): ", last_error);
    std::this_thread::sleep_for(std::min<net::Clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
}

std::shared_ptr<TcpStore> TcpStore::host(int port, std::chrono::milliseconds timeout, const std::string& display_host,
                                         const std::string& secret) {
  auto server = std::make_unique<TcpStoreServer>(port, display_host, secret);
  auto store = connect(server->connect_host(), server->port(), timeout, secret);
  store->server_ = std::move(server);
  return store;
}

std::chrono::milliseconds TcpStore::timeout() const {
  std::lock_guard<std::mutex> lock(mu_);
  return timeout_;
}

void TcpStore::set_timeout(std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  timeout_ = timeout;
}

net::Clock::time_point TcpStore::reply_deadline() const { return net::Clock::now() + timeout_; }

void TcpStore::lost(const char* op, const std::exception& e) {
  broken_ = true;
  broken_reason_ = str_cat("lost the connection to the rendezvous store at ", endpoint_, " during ", op, ": ",
                           e.what());
  sock_.close();
  fail(broken_reason_);
}

void TcpStore::send(const std::string& bytes, const char* op) {
  if (broken_) fail(broken_reason_);
  try {
    net::send_all(sock_.fd(), bytes.data(), bytes.size(), reply_deadline());
  } catch (const Error& e) {
    lost(op, e);
  }
}

void TcpStore::recv(void* data, size_t n, const char* op) {
  try {
    net::recv_exact(sock_.fd(), data, n, reply_deadline());
  } catch (const net::TimeoutError&) {
    broken_ = true;
    broken_reason_ = str_cat("the rendezvous store at ", endpoint_, " did not answer ", op, " within ",
                             seconds_text(timeout_));
    sock_.close();
    fail(broken_reason_);
  } catch (const Error& e) {
    lost(op, e);
  }
}

template <typename T>
T TcpStore::recv_value(const char* op) {
  T v{};
  recv(&v, sizeof(T), op);
  return v;
}

std::string TcpStore::recv_bytes(const char* op) {
  uint64_t n = recv_value<uint64_t>(op);
  if (n > tcpstore::kMaxValueBytes) {
    broken_ = true;
    broken_reason_ = str_cat("the rendezvous store at ", endpoint_, " sent a ", n, "-byte value during ", op,
                             " (limit ", tcpstore::kMaxValueBytes, ")");
    sock_.close();
    fail(broken_reason_);
  }
  std::string out(n, '\0');
  if (n) recv(out.data(), n, op);
  return out;
}

void TcpStore::set(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  send(Writer(QueryType::SET).bytes(wire_key(key)).bytes(value).data(), "set");
}

std::string TcpStore::get(const std::string& key) { return get(key, timeout()); }

std::string TcpStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  wait_locked({wire_key(key)}, {key}, timeout);
  send(Writer(QueryType::GET).bytes(wire_key(key)).data(), "get");
  return recv_bytes("get");
}

int64_t TcpStore::add(const std::string& key, int64_t delta) {
  std::lock_guard<std::mutex> lock(mu_);
  send(Writer(QueryType::ADD).bytes(wire_key(key)).value<int64_t>(delta).data(), "add");
  return recv_value<int64_t>("add");
}

std::string TcpStore::compare_set(const std::string& key, const std::string& expected, const std::string& desired) {
  std::lock_guard<std::mutex> lock(mu_);
  send(Writer(QueryType::COMPARE_SET).bytes(wire_key(key)).bytes(expected).bytes(desired).data(), "compare_set");
  return recv_bytes("compare_set");
}

bool TcpStore::check(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  Writer w(QueryType::CHECK);
  w.value<uint64_t>(keys.size());
  for (const auto& k : keys) w.bytes(wire_key(k));
  send(w.data(), "check");
  auto r = recv_value<uint8_t>("check");
  if (r == (uint8_t)tcpstore::CheckResponse::READY) return true;
  if (r == (uint8_t)tcpstore::CheckResponse::NOT_READY) return false;
  broken_ = true;
  broken_reason_ = str_cat("the rendezvous store at ", endpoint_, " answered check with ", (int)r);
  fail(broken_reason_);
}

void TcpStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout()); }

void TcpStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> wire;
  for (const auto& k : keys) wire.push_back(wire_key(k));
  wait_locked(wire, keys, timeout);
}

void TcpStore::wait_locked(const std::vector<std::string>& wire_keys, const std::vector<std::string>& user_keys,
                           std::chrono::milliseconds timeout) {
  Writer w(QueryType::WAIT);
  w.value<uint64_t>(wire_keys.size());
  for (const auto& k : wire_keys) w.bytes(k);
  send(w.data(), "wait");
  bool ready = false;
  try {
    ready = net::wait_readable(sock_.fd(), net::Clock::now() + timeout);
  } catch (const Error& e) {
    lost("wait", e);
  }
  if (ready) {
    auto r = recv_value<uint8_t>("wait");
    if (r != (uint8_t)tcpstore::WaitResponse::STOP_WAITING) {
      broken_ = true;
      broken_reason_ = str_cat("the rendezvous store at ", endpoint_, " answered wait with ", (int)r);
      fail(broken_reason_);
    }
    return;
  }
  // Timed out: cancel so that a late STOP_WAITING does not desynchronise the next request.
  send(Writer(QueryType::CANCEL_WAIT).data(), "cancel_wait");
  auto r = recv_value<uint8_t>("cancel_wait");
  if (r == (uint8_t)tcpstore::WaitResponse::STOP_WAITING) r = recv_value<uint8_t>("cancel_wait");
  if (r != (uint8_t)tcpstore::WaitResponse::WAIT_CANCELED) {
    broken_ = true;
    broken_reason_ = str_cat("the rendezvous store at ", endpoint_, " answered cancel_wait with ", (int)r);
    fail(broken_reason_);
  }
  throw StoreTimeoutError(str_cat("timed out after ", seconds_text(timeout), " waiting for key(s) ",
                                  join_keys(user_keys), " in the rendezvous store at ", endpoint_),
                          user_keys);
}

std::vector<std::string> TcpStore::multi_get(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> wire;
  for (const auto& k : keys) wire.push_back(wire_key(k));
  wait_locked(wire, keys, timeout_);
  Writer w(QueryType::MULTI_GET);
  w.value<uint64_t>(wire.size());
  for (const auto& k : wire) w.bytes(k);
  send(w.data(), "multi_get");
  std::vector<std::string> out;
  for (size_t i = 0; i < keys.size(); i++) out.push_back(recv_bytes("multi_get"));
  return out;
}

void TcpStore::multi_set(const std::vector<std::string>& keys, const std::vector<std::string>& values) {
  if (keys.size() != values.size())
    fail("TcpStore::multi_set: ", keys.size(), " keys but ", values.size(), " values");
  std::lock_guard<std::mutex> lock(mu_);
  Writer w(QueryType::MULTI_SET);
  w.value<uint64_t>(keys.size());
  for (size_t i = 0; i < keys.size(); i++) w.bytes(wire_key(keys[i])).bytes(values[i]);
  send(w.data(), "multi_set");
}

void TcpStore::append(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  send(Writer(QueryType::APPEND).bytes(wire_key(key)).bytes(value).data(), "append");
}

bool TcpStore::delete_key(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  send(Writer(QueryType::DELETE_KEY).bytes(wire_key(key)).data(), "delete_key");
  return recv_value<int64_t>("delete_key") == 1;
}

int64_t TcpStore::num_keys() {
  std::lock_guard<std::mutex> lock(mu_);
  send(Writer(QueryType::GETNUMKEYS).data(), "num_keys");
  return recv_value<int64_t>("num_keys");
}

}  // namespace shardlm
