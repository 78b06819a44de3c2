// TcpStore client and TcpStoreServer: semantics between threads, timeouts, the exact wire bytes
// (hand-assembled from PyTorch's TCPStore protocol), and rejection of non-TCPStore clients.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "dist_test_util.h"
#include "distributed/socket.h"
#include "distributed/tcp_store.h"

using namespace std::chrono_literals;
using shardlm::StoreTimeoutError;
using shardlm::TcpStore;
using shardlm::TcpStoreServer;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A raw TCP connection for checking bytes on the wire.
struct RawClient {
  int fd = -1;
  explicit RawClient(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    EXPECT_EQ(::connect(fd, (sockaddr*)&a, sizeof(a)), 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawClient() { ::close(fd); }
  void send_bytes(const std::vector<uint8_t>& b) { ASSERT_EQ(::send(fd, b.data(), b.size(), MSG_NOSIGNAL), (ssize_t)b.size()); }
  std::vector<uint8_t> recv_bytes(size_t n) {
    std::vector<uint8_t> out(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
      if (r <= 0) break;
      got += (size_t)r;
    }
    out.resize(got);
    return out;
  }
  // True when the server closed the connection (EOF) within the receive timeout.
  bool closed_by_server() {
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
  }
};

// Little-endian encodings, written out by hand.
std::vector<uint8_t> u64le(uint64_t v) {
  std::vector<uint8_t> b;
  for (int i = 0; i < 8; i++) b.push_back((uint8_t)(v >> (8 * i)));
  return b;
}
std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
std::vector<uint8_t> str(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
std::vector<uint8_t> lp(const std::string& s) { return cat({u64le(s.size()), str(s)}); }

const std::vector<uint8_t> kHello = {0x00, 0xCE, 0xF7, 0x85, 0x3C,   // VALIDATE, magic 0x3C85F7CE (LE)
                                     0x0D, 0x04, 0x03, 0x02, 0x01};  // PING, nonce 0x01020304

}  // namespace

TEST(TcpStore, SetGetAddCheckBetweenThreads) {
  TcpStoreServer server(0);
  auto a = TcpStore::connect("127.0.0.1", server.port(), 5s);
  auto b = TcpStore::connect("localhost", server.port(), 5s);

  EXPECT_FALSE(a->check({"k1"}));
  std::string seen;
  std::thread waiter([&] { seen = b->get("k1"); });  // blocks until a sets it
  std::this_thread::sleep_for(100ms);
  a->set("k1", std::string("v\0one", 5));
  waiter.join();
  EXPECT_EQ(seen, std::string("v\0one", 5));
  EXPECT_TRUE(b->check({"k1"}));

  // Four clients add 1 a hundred times each: the counter ends at 400, stored as decimal text.
  std::vector<std::thread> adders;
  for (int t = 0; t < 4; t++)
    adders.emplace_back([&] {
      auto c = TcpStore::connect("127.0.0.1", server.port(), 5s);
      for (int i = 0; i < 100; i++) c->add("counter", 1);
    });
  for (auto& t : adders) t.join();
  EXPECT_EQ(a->add("counter", 0), 400);
  EXPECT_EQ(a->get("counter"), "400");
  EXPECT_EQ(a->add("counter", -1000), -600);

  a->set("x", "1");
  a->set("y", "22");
  EXPECT_EQ(b->multi_get({"y", "x"}), (std::vector<std::string>{"22", "1"}));
  b->multi_set({"m1", "m2"}, {"a", "bb"});
  EXPECT_EQ(a->get("m2"), "bb");
  a->append("m1", "cd");
  EXPECT_EQ(b->get("m1"), "acd");
  EXPECT_EQ(a->num_keys(), 6);  // k1 counter x y m1 m2
  EXPECT_TRUE(a->delete_key("x"));
  EXPECT_FALSE(a->delete_key("x"));
  EXPECT_EQ(a->num_keys(), 5);
}

TEST(TcpStore, CompareSetFollowsTorchSemantics) {
  auto s = TcpStore::host(0, 5s);
  EXPECT_EQ(s->compare_set("c", "x", "y"), "x");  // missing key, non-empty expected: not set
  EXPECT_FALSE(s->check({"c"}));
  EXPECT_EQ(s->compare_set("c", "", "first"), "first");  // missing key, empty expected: set
  EXPECT_EQ(s->compare_set("c", "", "second"), "first");  // present, mismatch: unchanged
  EXPECT_EQ(s->compare_set("c", "first", "third"), "third");
  EXPECT_EQ(s->get("c"), "third");
}

TEST(TcpStore, WaitForSeveralKeys) {
  TcpStoreServer server(0);
  auto a = TcpStore::connect("127.0.0.1", server.port(), 5s);
  auto b = TcpStore::connect("127.0.0.1", server.port(), 5s);
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    b->wait({"p", "q", "r"});
    done = true;
  });
  a->set("p", "1");
  a->set("q", "1");
  std::this_thread::sleep_for(150ms);
  EXPECT_FALSE(done.load());  // r is still missing
  a->add("r", 1);
  waiter.join();
  EXPECT_TRUE(done.load());
}

TEST(TcpStore, WaitTimeoutNamesKeysAndKeepsConnectionUsable) {
  auto s = TcpStore::host(0, 5s);
  auto start = std::chrono::steady_clock::now();
  try {
    s->wait({"never", "also-never"}, 300ms);
    FAIL() << "wait returned";
  } catch (const StoreTimeoutError& e) {
    double t = seconds_since(start);
    EXPECT_GE(t, 0.29);
    EXPECT_LT(t, 3.0);
    EXPECT_NE(std::string(e.what()).find("never"), std::string::npos) << e.what();
    EXPECT_EQ(e.keys().size(), 2u);
  }
  // CANCEL_WAIT kept the stream in step: the next requests get their own replies.
  s->set("after", "ok");
  EXPECT_EQ(s->get("after"), "ok");
  EXPECT_THROW(s->get("absent", 200ms), StoreTimeoutError);
  EXPECT_EQ(s->add("n", 2), 2);
}

TEST(TcpStore, ConnectToNothingTimesOutNamingTheAddress) {
  int port = shardlm::testing::free_port();
  auto start = std::chrono::steady_clock::now();
  try {
    TcpStore::connect("127.0.0.1", port, 500ms);
    FAIL() << "connected to nothing";
  } catch (const shardlm::Error& e) {
    EXPECT_LT(seconds_since(start), 3.0);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
  }
}

TEST(TcpStore, ClientRetriesUntilTheServerAppears) {
  int port = shardlm::testing::free_port();
  std::unique_ptr<TcpStoreServer> server;
  std::thread late([&] {
    std::this_thread::sleep_for(300ms);
    server = std::make_unique<TcpStoreServer>(port);
  });
  auto s = TcpStore::connect("127.0.0.1", port, 5s);
  late.join();
  s->set("k", "v");
  EXPECT_EQ(s->get("k"), "v");
}

TEST(TcpStore, PortInUseIsAClearError) {
  TcpStoreServer first(0);
  try {
    TcpStoreServer second(first.port(), "127.0.0.1");
    FAIL() << "two servers on one port";
  } catch (const shardlm::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(first.port())), std::string::npos) << msg;
    EXPECT_NE(msg.find("already in use"), std::string::npos) << msg;
  }
}

TEST(TcpStore, WireBytesMatchTheTorchProtocol) {
  TcpStoreServer server(0);
  RawClient raw(server.port());
  raw.send_bytes(kHello);
  EXPECT_EQ(raw.recv_bytes(4), (std::vector<uint8_t>{0x04, 0x03, 0x02, 0x01}));  // nonce echoed

  raw.send_bytes(cat({{0x01}, lp("/k"), lp("val")}));  // SET (no reply)
  raw.send_bytes(cat({{0x03}, lp("/k")}));              // GET
  EXPECT_EQ(raw.recv_bytes(8 + 3), cat({u64le(3), str("val")}));
  raw.send_bytes(cat({{0x04}, lp("/n"), u64le(5)}));  // ADD 5
  EXPECT_EQ(raw.recv_bytes(8), u64le(5));
  raw.send_bytes(cat({{0x03}, lp("/n")}));  // the counter is stored as text
  EXPECT_EQ(raw.recv_bytes(9), cat({u64le(1), str("5")}));
  raw.send_bytes(cat({{0x05}, u64le(2), lp("/k"), lp("/zz")}));  // CHECK: /zz missing
  EXPECT_EQ(raw.recv_bytes(1), (std::vector<uint8_t>{0x01}));     // NOT_READY
  raw.send_bytes(cat({{0x06}, u64le(1), lp("/k")}));              // WAIT on a present key
  EXPECT_EQ(raw.recv_bytes(1), (std::vector<uint8_t>{0x00}));     // STOP_WAITING
  raw.send_bytes(cat({{0x07}}));                                   // GETNUMKEYS
  EXPECT_EQ(raw.recv_bytes(8), u64le(2));

  // WAIT on a missing key parks the client until another client sets it; our client adds "/".
  raw.send_bytes(cat({{0x06}, u64le(1), lp("/late")}));
  auto client = TcpStore::connect("127.0.0.1", server.port(), 5s);
  client->set("late", "x");
  EXPECT_EQ(raw.recv_bytes(1), (std::vector<uint8_t>{0x00}));
  EXPECT_EQ(client->get("k"), "val");  // the raw "/k" is the client's "k"

  raw.send_bytes(cat({{0x0C}}));  // CANCEL_WAIT with nothing pending
  EXPECT_EQ(raw.recv_bytes(1), (std::vector<uint8_t>{0x01}));  // WAIT_CANCELED
  raw.send_bytes(cat({{0x0E}, lp("/q"), lp("item")}));          // QUEUE_PUSH
  raw.send_bytes(cat({{0x10}, lp("/q")}));                      // QUEUE_LEN
  EXPECT_EQ(raw.recv_bytes(8), u64le(1));
  raw.send_bytes(cat({{0x0F}, lp("/q")}));  // QUEUE_POP: length before the pop, then the item
  EXPECT_EQ(raw.recv_bytes(8 + 8 + 4), cat({u64le(1), u64le(4), str("item")}));
}

TEST(TcpStore, NonTcpStoreClientsAreDisconnected) {
  TcpStoreServer server(0);
  {
    RawClient wrong_magic(server.port());
    wrong_magic.send_bytes({0x00, 0x01, 0x02, 0x03, 0x04});
    EXPECT_TRUE(wrong_magic.closed_by_server());
  }
  {
    RawClient no_validate(server.port());
    no_validate.send_bytes(cat({{0x03}, lp("/k")}));  // GET before VALIDATE
    EXPECT_TRUE(no_validate.closed_by_server());
  }
  {
    RawClient oversized(server.port());
    oversized.send_bytes(kHello);
    oversized.recv_bytes(4);
    oversized.send_bytes(cat({{0x01}, u64le(1ull << 40)}));  // a 1 TiB key
    EXPECT_TRUE(oversized.closed_by_server());
  }
  // The server still serves well-behaved clients.
  auto s = TcpStore::connect("127.0.0.1", server.port(), 5s);
  s->set("fine", "yes");
  EXPECT_EQ(s->get("fine"), "yes");
}

TEST(TcpStore, ServerGoingAwayFailsClientsInsteadOfHanging) {
  auto server = std::make_unique<TcpStoreServer>(0);
  auto s = TcpStore::connect("127.0.0.1", server->port(), 10s);
  std::string error;
  std::thread waiter([&] {
    try {
      s->wait({"never"}, 10s);
    } catch (const shardlm::Error& e) {
      error = e.what();
    }
  });
  std::this_thread::sleep_for(200ms);
  auto start = std::chrono::steady_clock::now();
  server.reset();
  waiter.join();
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_NE(error.find("lost the connection"), std::string::npos) << error;
  EXPECT_THROW(s->set("k", "v"), shardlm::Error);
}

TEST(TcpStore, ALoopbackHostListensOnlyOnLoopback) {
  // shardlm-run --standalone (and MASTER_ADDR=localhost) hosts the store for one machine: it must not be
  // reachable from the network.
  const std::string local = shardlm::net::local_address_towards("192.0.2.1");  // TEST-NET-1: no packet is sent
  if (local.empty() || shardlm::net::is_loopback_host(local))
    GTEST_SKIP() << "this machine has no non-loopback address to try";
  TcpStoreServer loopback(0, "localhost");
  EXPECT_EQ(loopback.connect_host(), "127.0.0.1");
  auto s = TcpStore::connect("127.0.0.1", loopback.port(), 5s);
  s->set("k", "v");
  EXPECT_THROW(TcpStore::connect(local, loopback.port(), 1s), shardlm::Error) << "reachable at " << local;
  TcpStoreServer everywhere(0, "");
  EXPECT_EQ(TcpStore::connect(local, everywhere.port(), 5s)->add("n", 1), 1) << "the control: any interface";
}

TEST(TcpStore, ARequestOver64MiBDropsOnlyThatClient) {
  TcpStoreServer server(0);
  {
    RawClient big(server.port());
    big.send_bytes(kHello);
    big.recv_bytes(4);
    const std::vector<uint8_t> head = cat({{0x01}, lp("/big"), u64le(200ull << 20)});  // SET, a 200 MiB value
    ASSERT_EQ(::send(big.fd, head.data(), head.size(), MSG_NOSIGNAL), (ssize_t)head.size());
    std::vector<uint8_t> chunk(1 << 20, 0x5a);
    for (int i = 0; i < 80; ++i)  // 80 MiB; the server stops reading past 64
      if (::send(big.fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) break;
    char c;
    const ssize_t r = ::recv(big.fd, &c, 1, 0);  // EOF, or a reset when the server closed with data unread
    EXPECT_TRUE(r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) << "still connected";
  }
  auto s = TcpStore::connect("127.0.0.1", server.port(), 5s);
  s->set("fine", "yes");
  EXPECT_EQ(s->get("fine"), "yes");
}

// SHARDLM_STORE_SECRET: a store with a secret serves only clients that present it first; the secret is checked,
// never stored, and a client without it or with another one gets an error saying so at once, not a timeout.
TEST(TcpStore, AStoreWithASecretServesOnlyClientsThatPresentIt) {
  TcpStoreServer server(0, "127.0.0.1", "s3cret-token");
  auto good = TcpStore::connect("127.0.0.1", server.port(), 5s, "s3cret-token");
  good->set("k", "v");
  EXPECT_EQ(good->get("k"), "v");

  for (const std::string& secret : {std::string(), std::string("s3cret-tokem"), std::string("s3cret-token-")}) {
    const auto start = std::chrono::steady_clock::now();
    try {
      TcpStore::connect("127.0.0.1", server.port(), 30s, secret);
      ADD_FAILURE() << "a client with secret '" << secret << "' was let in";
    } catch (const shardlm::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(secret.empty() ? "requires a shared secret: set SHARDLM_STORE_SECRET" : "refused this process's SHARDLM_STORE_SECRET"),
                std::string::npos) << msg;
      EXPECT_EQ(msg.find("s3cret"), std::string::npos) << "the secret must not appear in messages: " << msg;
    }
    EXPECT_LT(seconds_since(start), 5.0) << "refused at once, not after the 30 s timeout";
  }
  // A raw client that skips the secret is dropped at its first real request, which changes nothing.
  {
    RawClient raw(server.port());
    raw.send_bytes(kHello);
    EXPECT_EQ(raw.recv_bytes(4), (std::vector<uint8_t>{0x04, 0x03, 0x02, 0x01}));  // PING still answered
    raw.send_bytes(cat({{0x07}}));                                                  // GETNUMKEYS: -1, "say the secret"
    EXPECT_EQ(raw.recv_bytes(8), u64le(~0ull));
    raw.send_bytes(cat({{0x01}, lp("/k"), lp("overwritten")}));  // SET before the secret
    EXPECT_TRUE(raw.closed_by_server());
  }
  // The secret is never stored: the key is not there and the count is the one key set above.
  EXPECT_FALSE(good->check({"shardlm_store_secret"}));
  EXPECT_EQ(good->num_keys(), 1);
  EXPECT_EQ(good->get("k"), "v");
}

TEST(TcpStore, WithoutASecretTheStoreIgnoresOneAndAClientOffersItOnlyWhenAsked) {
  TcpStoreServer server(0);
  RawClient raw(server.port());  // watches the key count: a presented secret would not be stored anyway
  raw.send_bytes(kHello);
  raw.recv_bytes(4);
  auto client = TcpStore::connect("127.0.0.1", server.port(), 5s, "unused-secret");
  client->set("k", "v");
  EXPECT_EQ(client->get("k"), "v");  // a round trip: the SET was handled
  raw.send_bytes(cat({{0x07}}));
  EXPECT_EQ(raw.recv_bytes(8), u64le(1));
  EXPECT_FALSE(client->check({"shardlm_store_secret"}));
  // A SET of the secret key to a store without a secret is accepted and dropped.
  raw.send_bytes(cat({{0x01}, lp("/shardlm_store_secret"), lp("anything")}));
  raw.send_bytes(cat({{0x07}}));
  EXPECT_EQ(raw.recv_bytes(8), u64le(1));
}
