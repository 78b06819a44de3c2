// GroupFaultReporter: turns a failed collective into one message that names the lost rank(s), and
// makes all survivors of a group agree on it through a fault record in the rendezvous store.
//
// When a peer process dies, every survivor's TCP connection to it closes, but a survivor whose current
// collective does not talk to the dead rank only notices later, often as "connection closed" from a
// *different* survivor that already gave up. So the first rank that identifies the lost rank(s) writes a
// record (compare-and-set: first writer wins) before it tears its connections down, and later ranks
// report the recorded root cause instead of their neighbour.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/tcp_store.h"

namespace shardlm {

class GroupFaultReporter {
 public:
  // global_ranks[i]: global rank of group rank i. prefix: this group's store prefix (ends with '/').
  // backend: names the transport in messages ("gloo: <its error>").
  GroupFaultReporter(std::shared_ptr<TcpStore> store, std::string prefix, std::string group_name,
                     std::vector<int> global_ranks, int group_rank, std::chrono::milliseconds timeout,
                     std::string backend = "gloo");

  // Called once, right after collective `op` failed with `backend_error`. `broken_group_ranks`: peers
  // known to be gone (their connection closed, or their process no longer exists), `lost_how` says how that
  // was seen. Returns the message for the shardlm::Error to throw. Bounded: store exchanges are capped at
  // fault_grace(timeout).
  std::string diagnose(const std::string& op, const std::string& backend_error,
                       const std::vector<int>& broken_group_ranks, const std::string& lost_how = kConnectionClosed);

  static constexpr const char* kConnectionClosed = "connection closed";
  static constexpr const char* kProcessGone = "its process exited or was killed";

 private:
  std::shared_ptr<TcpStore> store_;
  std::string prefix_;
  std::string group_name_;
  std::vector<int> global_ranks_;
  int group_rank_;
  std::chrono::milliseconds timeout_;
  std::string backend_;
};

// How a group timeout T is spent when a peer goes silent: a collective waits collective_wait(T) = T - grace -
// min(2 s, T / 10), the fault diagnosis (store exchanges, census) at most fault_grace(T) = min(5 s, T / 4), and
// the rest is left for the processes to exit, so every rank has named the lost rank and is gone within T
// (--dist-timeout's promise).
std::chrono::milliseconds fault_grace(std::chrono::milliseconds timeout);
std::chrono::milliseconds collective_wait(std::chrono::milliseconds timeout);

// "rank 1" / "ranks 1, 3".
std::string ranks_phrase(const std::vector<int>& ranks);
// gloo prefixes its messages with "[/path/file.cc:123] "; drop that.
std::string strip_gloo_location(const std::string& what);

}  // namespace shardlm
