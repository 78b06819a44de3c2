// TcpStoreServer: a TCPStore-protocol server (see tcp_store_protocol.h) on one background thread.
// One poll() loop accepts clients, parses complete requests out of each client's input buffer, and
// queues replies in its output buffer; WAIT and BARRIER park the client until the keys arrive.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <unordered_map>

#include "distributed/tcp_store.h"
#include "distributed/tcp_store_protocol.h"

namespace shardlm {

using tcpstore::QueryType;
using tcpstore::Writer;

namespace {

// A malformed or oversized request: the client is disconnected.
class ProtocolError : public Error {
 public:
  using Error::Error;
};

// Reads fields from a client's buffered input; every read returns false when the bytes have not all
// arrived yet, so a request is only acted on once it is complete.
class Reader {
 public:
  Reader(const std::string& buf, size_t pos) : buf_(buf), pos_(pos) {}
  template <typename T>
  bool value(T& out) {
    if (buf_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&out, buf_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool bytes(std::string& out, uint64_t limit, const char* what) {
    uint64_t n = 0;
    if (!value(n)) return false;
    if (n > limit) throw ProtocolError(str_cat(what, " of ", n, " bytes exceeds the limit of ", limit));
    if (buf_.size() - pos_ < n) return false;
    out.assign(buf_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool key(std::string& out) { return bytes(out, tcpstore::kMaxKeyBytes, "key"); }
  bool payload(std::string& out) { return bytes(out, tcpstore::kMaxValueBytes, "value"); }
  bool count(uint64_t& n) {
    if (!value(n)) return false;
    if (n > tcpstore::kMaxKeyCount) throw ProtocolError(str_cat("key count ", n, " exceeds ", tcpstore::kMaxKeyCount));
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  const std::string& buf_;
  size_t pos_;
};

struct Client {
  net::Socket sock;
  std::string in;
  size_t in_consumed = 0;
  std::string out;
  bool validated = false;
  bool authenticated = false;  // presented the store's secret (or the store has none)
  bool dead = false;
};

int64_t parse_counter(const std::string& key, const std::string& value) {
  try {
    size_t used = 0;
    int64_t v = std::stoll(value, &used);
    if (used != value.size()) throw std::invalid_argument("trailing");
    return v;
  } catch (const std::exception&) {
    throw ProtocolError(str_cat("add on key '", key, "' whose value is not an integer"));
  }
}

}  // namespace

// Bounds on what clients can make the store hold (a rendezvous stores addresses and ids of bytes to
// kilobytes): one request's bytes, and keys plus values in total. Past them the client is dropped.
constexpr size_t kMaxRequestBytes = size_t(64) << 20;
constexpr size_t kMaxStoredBytes = size_t(1) << 30;

// Compares without an early exit, so the time taken says nothing about how much of a guess was right (the
// length is not the secret).
bool same_secret(const std::string& given, const std::string& secret) {
  if (given.size() != secret.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < secret.size(); i++) diff |= (unsigned char)(given[i] ^ secret[i]);
  return diff == 0;
}

struct TcpStoreServer::State {
  std::string secret;  // empty: none required
  std::map<uint64_t, Client> clients;
  size_t stored_bytes = 0;  // keys and values of kv and queues
  uint64_t next_id = 1;
  std::unordered_map<std::string, std::string> kv;
  std::unordered_map<std::string, std::vector<uint64_t>> waiting;  // key -> clients parked on it
  std::unordered_map<uint64_t, size_t> awaited;                    // client -> keys it still waits for
  std::unordered_map<std::string, std::deque<std::string>> queues;

  bool present(const std::string& key) const {
    if (kv.count(key)) return true;
    auto q = queues.find(key);
    return q != queues.end() && !q->second.empty();
  }

  void reply(uint64_t id, const std::string& bytes) {
    auto it = clients.find(id);
    if (it != clients.end()) it->second.out += bytes;
  }

  // A key appeared: clients whose last awaited key this was may stop waiting. `only_one` wakes a single
  // client (a queue push satisfies one pop).
  void wake(const std::string& key, bool only_one = false) {
    auto it = waiting.find(key);
    if (it == waiting.end()) return;
    auto& ids = it->second;
    for (size_t i = 0; i < ids.size(); i++) {
      auto a = awaited.find(ids[i]);
      if (a == awaited.end()) continue;
      if (--a->second == 0) {
        awaited.erase(a);
        reply(ids[i], Writer().u8((uint8_t)tcpstore::WaitResponse::STOP_WAITING).data());
        if (only_one) {
          ids.erase(ids.begin(), ids.begin() + (long)i + 1);
          if (ids.empty()) waiting.erase(it);
          return;
        }
      }
    }
    waiting.erase(it);
  }

  void clear_wait(uint64_t id) {
    if (!awaited.erase(id)) return;
    for (auto it = waiting.begin(); it != waiting.end();) {
      auto& v = it->second;
      v.erase(std::remove(v.begin(), v.end(), id), v.end());
      it = v.empty() ? waiting.erase(it) : std::next(it);
    }
  }

  // Accounts for `added` more stored bytes (and `removed` fewer); throws past kMaxStoredBytes.
  void charge(size_t added, size_t removed = 0) {
    const size_t after = stored_bytes - std::min(removed, stored_bytes) + added;
    if (after > kMaxStoredBytes)
      throw ProtocolError(str_cat("the store would hold more than ", kMaxStoredBytes >> 20, " MiB"));
    stored_bytes = after;
  }

  void set(const std::string& key, std::string value) {
    auto it = kv.find(key);
    charge(key.size() + value.size(), it == kv.end() ? 0 : key.size() + it->second.size());
    kv[key] = std::move(value);
    wake(key);
  }

  // Parses and executes one request from the client's input. false: the request is incomplete.
  bool handle_one(uint64_t id, Client& c);
};

bool TcpStoreServer::State::handle_one(uint64_t id, Client& c) {
  Reader r(c.in, c.in_consumed);
  uint8_t cmd = 0;
  if (!r.value(cmd)) return false;
  const auto q = (QueryType)cmd;
  if (!c.validated && q != QueryType::VALIDATE)
    throw ProtocolError("the first request was not VALIDATE (not a TCPStore client)");
  std::string key, value, other;
  uint64_t n = 0;
  if (!c.authenticated && q != QueryType::VALIDATE && q != QueryType::PING) {
    if (q == QueryType::GETNUMKEYS) {
      c.out += Writer().value<int64_t>(tcpstore::kSecretRequiredReply).data();
      c.in_consumed = r.pos();
      return true;
    }
    if (q != QueryType::SET) throw ProtocolError("a request before the store's secret (SHARDLM_STORE_SECRET) was presented");
    if (!r.key(key) || !r.payload(value)) return false;
    if (key != tcpstore::kSecretKey)
      throw ProtocolError("a request before the store's secret (SHARDLM_STORE_SECRET) was presented");
    if (!same_secret(value, secret)) throw ProtocolError("a wrong store secret (SHARDLM_STORE_SECRET)");
    c.authenticated = true;
    c.in_consumed = r.pos();
    return true;
  }
  switch (q) {
    case QueryType::VALIDATE: {
      uint32_t magic = 0;
      if (!r.value(magic)) return false;
      if (magic != tcpstore::kValidationMagic) throw ProtocolError("wrong validation magic number");
      c.validated = true;
      break;
    }
    case QueryType::PING: {
      uint32_t nonce = 0;
      if (!r.value(nonce)) return false;
      c.out += Writer().value<uint32_t>(nonce).data();
      break;
    }
    case QueryType::SET:
      if (!r.key(key) || !r.payload(value)) return false;
      if (key == tcpstore::kSecretKey) break;  // authenticated already, or no secret: never stored
      set(key, std::move(value));
      break;
    case QueryType::COMPARE_SET: {
      if (!r.key(key) || !r.payload(value) || !r.payload(other)) return false;
      const std::string& expected = value;
      std::string& desired = other;
      auto it = kv.find(key);
      std::string result;
      if (it == kv.end()) {
        result = expected.empty() ? desired : expected;
        if (expected.empty()) set(key, desired);
      } else {
        if (it->second == expected) {
          charge(desired.size(), it->second.size());
          it->second = desired;
        }
        result = it->second;
        wake(key);
      }
      c.out += Writer().bytes(result).data();
      break;
    }
    case QueryType::GET: {
      if (!r.key(key)) return false;
      auto it = kv.find(key);
      c.out += Writer().bytes(it == kv.end() ? std::string() : it->second).data();
      break;
    }
    case QueryType::ADD: {
      int64_t delta = 0;
      if (!r.key(key) || !r.value(delta)) return false;
      auto it = kv.find(key);
      int64_t sum = delta + (it == kv.end() ? 0 : parse_counter(key, it->second));
      set(key, std::to_string(sum));
      c.out += Writer().value<int64_t>(sum).data();
      break;
    }
    case QueryType::CHECK:
    case QueryType::WAIT: {
      if (!r.count(n)) return false;
      std::vector<std::string> keys(n);
      for (auto& k : keys)
        if (!r.key(k)) return false;
      size_t missing = 0;
      for (const auto& k : keys) missing += present(k) ? 0 : 1;
      if (q == QueryType::CHECK) {
        c.out += Writer().u8((uint8_t)(missing == 0 ? tcpstore::CheckResponse::READY
                                                    : tcpstore::CheckResponse::NOT_READY)).data();
      } else if (missing == 0) {
        c.out += Writer().u8((uint8_t)tcpstore::WaitResponse::STOP_WAITING).data();
      } else {
        clear_wait(id);
        for (const auto& k : keys)
          if (!present(k)) waiting[k].push_back(id);
        awaited[id] = missing;
      }
      break;
    }
    case QueryType::CANCEL_WAIT:
      clear_wait(id);
      c.out += Writer().u8((uint8_t)tcpstore::WaitResponse::WAIT_CANCELED).data();
      break;
    case QueryType::GETNUMKEYS:
      c.out += Writer().value<int64_t>((int64_t)kv.size()).data();
      break;
    case QueryType::DELETE_KEY: {
      if (!r.key(key)) return false;
      auto it = kv.find(key);
      if (it != kv.end()) charge(0, key.size() + it->second.size());
      c.out += Writer().value<int64_t>((int64_t)kv.erase(key)).data();
      break;
    }
    case QueryType::APPEND:
      if (!r.key(key) || !r.payload(value)) return false;
      charge(value.size() + (kv.count(key) ? 0 : key.size()));
      kv[key] += value;
      wake(key);
      break;
    case QueryType::MULTI_GET: {
      if (!r.count(n)) return false;
      std::vector<std::string> keys(n);
      for (auto& k : keys)
        if (!r.key(k)) return false;
      Writer w;
      for (const auto& k : keys) {
        auto it = kv.find(k);
        w.bytes(it == kv.end() ? std::string() : it->second);
      }
      c.out += w.data();
      break;
    }
    case QueryType::MULTI_SET: {
      if (!r.count(n)) return false;
      std::vector<std::pair<std::string, std::string>> kvs(n);
      for (auto& [k, v] : kvs)
        if (!r.key(k) || !r.payload(v)) return false;
      for (auto& [k, v] : kvs) set(k, std::move(v));
      break;
    }
    case QueryType::QUEUE_PUSH:
      if (!r.key(key) || !r.payload(value)) return false;
      charge(key.size() + value.size());
      queues[key].push_back(std::move(value));
      wake(key, /*only_one=*/true);
      break;
    case QueryType::QUEUE_POP: {
      if (!r.key(key)) return false;
      auto& queue = queues[key];
      Writer w;
      w.value<int64_t>((int64_t)queue.size());
      if (!queue.empty()) {
        w.bytes(queue.front());
        charge(0, key.size() + queue.front().size());
        queue.pop_front();
      }
      c.out += w.data();
      break;
    }
    case QueryType::QUEUE_LEN: {
      if (!r.key(key)) return false;
      auto it = queues.find(key);
      c.out += Writer().value<int64_t>(it == queues.end() ? 0 : (int64_t)it->second.size()).data();
      break;
    }
    case QueryType::LIST_KEYS: {
      Writer w;
      w.value<int64_t>((int64_t)kv.size());
      for (const auto& [k, v] : kv) w.bytes(k);
      c.out += w.data();
      break;
    }
    case QueryType::BARRIER: {
      int64_t world = 0;
      if (!r.key(key) || !r.value(world)) return false;
      auto it = kv.find(key);
      int64_t count = 1 + (it == kv.end() ? 0 : parse_counter(key, it->second));
      kv[key] = std::to_string(count);
      if (count >= world) {
        wake(key);
        c.out += Writer().u8((uint8_t)tcpstore::WaitResponse::STOP_WAITING).data();
      } else {
        clear_wait(id);
        waiting[key].push_back(id);
        awaited[id] = 1;
      }
      break;
    }
    default:
      throw ProtocolError(str_cat("unknown request type ", (int)cmd));
  }
  c.in_consumed = r.pos();
  return true;
}

TcpStoreServer::TcpStoreServer(int port, const std::string& host, const std::string& secret)
    : listener_(net::listen_on(port, host)), state_(std::make_unique<State>()) {
  state_->secret = secret;
  port_ = net::local_port(listener_.fd());
  if (::pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) < 0) fail("pipe2 failed: ", std::strerror(errno));
  int flags = ::fcntl(listener_.fd(), F_GETFL);
  ::fcntl(listener_.fd(), F_SETFL, flags | O_NONBLOCK);
  thread_ = std::thread([this] { run(); });
}

TcpStoreServer::~TcpStoreServer() {
  char b = 1;
  ssize_t ignored = ::write(wake_fds_[1], &b, 1);
  (void)ignored;
  if (thread_.joinable()) thread_.join();
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
}

void TcpStoreServer::run() {
  State& s = *state_;
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  for (;;) {
    fds.clear();
    ids.clear();
    fds.push_back({wake_fds_[0], POLLIN, 0});
    fds.push_back({listener_.fd(), POLLIN, 0});
    for (auto& [id, c] : s.clients) {
      fds.push_back({c.sock.fd(), (short)(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
      ids.push_back(id);
    }
    int rv = ::poll(fds.data(), fds.size(), -1);
    if (rv < 0 && errno == EINTR) continue;
    if (rv < 0) {
      std::cerr << "shardlm TcpStoreServer: poll failed: " << std::strerror(errno) << "\n";
      return;
    }
    if (fds[0].revents) return;  // stop requested
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        Client c;
        c.sock = net::Socket(fd);
        c.authenticated = s.secret.empty();
        s.clients.emplace(s.next_id++, std::move(c));
      }
    }
    for (size_t i = 0; i < ids.size(); i++) {
      const short ev = fds[i + 2].revents;
      if (!ev) continue;
      auto it = s.clients.find(ids[i]);
      if (it == s.clients.end()) continue;
      Client& c = it->second;
      if (ev & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        for (;;) {
          ssize_t got = ::recv(c.sock.fd(), buf, sizeof(buf), 0);
          if (got > 0) {
            c.in.append(buf, (size_t)got);
            continue;
          }
          if (got < 0 && errno == EINTR) continue;
          if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          c.dead = true;  // EOF or error: handle what arrived, then drop the client
          break;
        }
        try {
          while (c.in_consumed < c.in.size() && s.handle_one(ids[i], c)) {
          }
        } catch (const std::exception& e) {
          std::cerr << "shardlm TcpStoreServer: dropping a client: " << e.what() << "\n";
          c.dead = true;
        }
        c.in.erase(0, c.in_consumed);
        c.in_consumed = 0;
        if (c.in.size() > kMaxRequestBytes) {  // an incomplete request this large is not a rendezvous
          std::cerr << "shardlm TcpStoreServer: dropping a client: a request larger than " << (kMaxRequestBytes >> 20)
                    << " MiB\n";
          c.dead = true;
        }
      }
    }
    // Flush replies (including wake-ups queued for other clients), then drop dead clients.
    for (auto it = s.clients.begin(); it != s.clients.end();) {
      Client& c = it->second;
      while (!c.dead && !c.out.empty()) {
        ssize_t sent = ::send(c.sock.fd(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent > 0) {
          c.out.erase(0, (size_t)sent);
          continue;
        }
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        c.dead = true;
      }
      if (c.dead) {
        s.clear_wait(it->first);
        it = s.clients.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace shardlm
