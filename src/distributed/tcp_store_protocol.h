// The wire protocol of PyTorch's c10d TCPStore, which our client and server both speak so that a
// shardlm worker can join torchrun's own store and a torch worker can join ours.
//
// Facts relied on (PyTorch 2.x: torch/csrc/distributed/c10d/TCPStore.cpp, TCPStoreBackend.hpp,
// TCPStoreLibUvBackend.cpp; the libuv server is the only backend since 2.4):
//  * Integers travel in host byte order (little-endian on every platform torch ships); no framing
//    beyond the fields below. A "string" or "bytes" is a uint64 length followed by that many bytes.
//  * Every request starts with one uint8 QueryType:
//      VALIDATE=0 SET=1 COMPARE_SET=2 GET=3 ADD=4 CHECK=5 WAIT=6 GETNUMKEYS=7 DELETE_KEY=8 APPEND=9
//      MULTI_GET=10 MULTI_SET=11 CANCEL_WAIT=12 PING=13 QUEUE_PUSH=14 QUEUE_POP=15 QUEUE_LEN=16
//      LIST_KEYS=17 BARRIER=18
//  * On connect the client sends VALIDATE + uint32 magic 0x3C85F7CE (no reply; the server drops a client
//    whose first request is anything else), then PING + uint32 nonce (torch uses its pid); the server
//    echoes the uint32 nonce.
//  * SET key bytes                      -> no reply
//    COMPARE_SET key expected desired   -> bytes: the value now stored. A missing key is set only when
//                                          `expected` is empty; otherwise `expected` is echoed back.
//    GET key                            -> bytes (empty when missing; clients WAIT for the key first)
//    ADD key int64 delta                -> int64 new value; the value is stored as its decimal text
//    CHECK uint64 n, n keys             -> uint8 CheckResponseType READY=0 / NOT_READY=1
//    WAIT uint64 n, n keys              -> uint8 WaitResponseType STOP_WAITING=0, sent once all keys exist
//    CANCEL_WAIT                        -> uint8 WAIT_CANCELED=1 (a STOP_WAITING may precede it if the
//                                          keys arrived in between; the client reads both)
//    GETNUMKEYS                         -> int64
//    DELETE_KEY key                     -> int64 number deleted
//    APPEND key bytes                   -> no reply
//    MULTI_GET uint64 n, n keys         -> n x bytes
//    MULTI_SET uint64 n, n x (key bytes)-> no reply
//    QUEUE_PUSH key bytes               -> no reply
//    QUEUE_POP key                      -> int64 queue length before the pop, then bytes if it was > 0
//    QUEUE_LEN key                      -> int64
//    LIST_KEYS                          -> int64 n, n x string
//    BARRIER key int64 world_size       -> STOP_WAITING once world_size clients arrived (counter in key)
//  * A client-side timeout on WAIT sends CANCEL_WAIT to keep the stream in step.
//  * torch's TCPStore client prefixes every user key with "/" (keyPrefix_); torch's PrefixStore joins
//    prefix and key with "/". Our client does the same, so both see one key space.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace shardlm::tcpstore {

constexpr uint32_t kValidationMagic = 0x3C85F7CE;

enum class QueryType : uint8_t {
  VALIDATE = 0,
  SET = 1,
  COMPARE_SET = 2,
  GET = 3,
  ADD = 4,
  CHECK = 5,
  WAIT = 6,
  GETNUMKEYS = 7,
  DELETE_KEY = 8,
  APPEND = 9,
  MULTI_GET = 10,
  MULTI_SET = 11,
  CANCEL_WAIT = 12,
  PING = 13,
  QUEUE_PUSH = 14,
  QUEUE_POP = 15,
  QUEUE_LEN = 16,
  LIST_KEYS = 17,
  BARRIER = 18,
};

enum class CheckResponse : uint8_t { READY = 0, NOT_READY = 1 };
enum class WaitResponse : uint8_t { STOP_WAITING = 0, WAIT_CANCELED = 1 };

// The shared secret (SHARDLM_STORE_SECRET), shardlm's addition to the protocol, built from its own requests so
// that torch's client can present it too (`store.set("shardlm_store_secret", secret)`): a server given a
// secret answers VALIDATE and PING from a new client, and then accepts only a SET of kSecretKey carrying the
// secret; after it, everything. Before it, GETNUMKEYS is answered with -1 (a count no store has), so that
// shardlm's client can say the secret is missing; any other request, or a wrong secret, drops the client.
// The secret is compared in constant time and never stored. A server without a secret ignores the SET.
constexpr const char* kSecretKey = "/shardlm_store_secret";  // on the wire (clients prefix user keys with "/")
constexpr int64_t kSecretRequiredReply = -1;

// Server-side limits on what one request may carry (a bad or hostile client is disconnected).
constexpr uint64_t kMaxKeyBytes = 64 * 1024;
constexpr uint64_t kMaxValueBytes = 256ull * 1024 * 1024;
constexpr uint64_t kMaxKeyCount = 128 * 1024;

// Appends protocol fields to a byte buffer.
class Writer {
 public:
  explicit Writer(QueryType q) { out_.push_back((char)q); }
  Writer() = default;
  template <typename T>
  Writer& value(T v) {
    char raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    out_.append(raw, sizeof(T));
    return *this;
  }
  Writer& u8(uint8_t v) { return value<uint8_t>(v); }
  Writer& bytes(const std::string& s) {
    value<uint64_t>(s.size());
    out_.append(s);
    return *this;
  }
  const std::string& data() const { return out_; }
  std::string& data() { return out_; }

 private:
  std::string out_;
};

}  // namespace shardlm::tcpstore
