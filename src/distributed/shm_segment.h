// ShmSegment: one POSIX shared-memory segment mapped by every rank of a process group on one host.
//
// Lifetime, so that nothing is left in /dev/shm on any exit path:
//   1. group rank 0 creates it under a fresh name ("/shardlm-<group>-<pid>-<random>", O_EXCL: a stale
//      segment of a killed job can never be opened by, or block, a later one), sizes it (posix_fallocate,
//      so a full /dev/shm is an error now, not a SIGBUS later) and publishes the name in the store;
//   2. the others open and map it, and every rank reports "mapped" (or its error) in the store;
//   3. once every rank has reported, every rank unlinks the name (the first succeeds). From then on the
//      memory lives only in the mappings and disappears with the last process, however it ends.
// If a rank dies between 1 and 3, the others time out in step 2 and unlink the name on their error path.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "distributed/tcp_store.h"

namespace shardlm {

class ShmSegment {
 public:
  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  void* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  const std::vector<int>& pids() const { return pids_; }  // group rank -> process id (same pid namespace)

  struct Options {
    std::string group_name;            // for the segment name and messages
    std::vector<int> global_ranks;     // group rank -> global rank
    int group_rank = 0;
    std::string store_prefix;          // this group's keys ("<group prefix>shm/")
    size_t bytes = 0;                  // size of the segment
    std::chrono::milliseconds timeout{60000};
    std::function<void(void*)> initialise;                // rank 0, before publishing the name
    std::function<std::string(const void*)> validate;     // the others, after mapping: "" or what is wrong
  };
  // Collective over the group. Returns null on every rank when some rank could not create or map the
  // segment, with `error` naming the rank and the reason (the caller decides: fall back or fail). Throws
  // Error when a peer does not report within the timeout (it died or hung during set-up).
  static std::unique_ptr<ShmSegment> establish(TcpStore& store, const Options& opts, std::string* error);

 private:
  ShmSegment(void* base, size_t bytes) : base_(base), bytes_(bytes) {}
  void* base_ = nullptr;
  size_t bytes_ = 0;
  std::vector<int> pids_;
};

}  // namespace shardlm
