// ShmProcessGroup: collectives through one shared-memory segment (shm_segment.h) per group.
//
// Segment layout (each field on its own 64-byte line):
//   Header          magic, group size, slot_bytes
//   gave_up         0, or 1 + the group rank that abandoned the group (peers then fail at once)
//   RankWord[size]  arrive: the last step this rank published (its bytes for that step are in its slot);
//                   waiters: peers asleep on `arrive` (the publisher makes the wake-up call only then);
//                   call[2]: which collective the rank is in at step s (call[s % 2]: op, dtype, bytes, root),
//                   so ranks that call different collectives fail naming both instead of mixing data
//   data            2 buffers x size slots x slot_bytes; step s uses buffer s % 2
//
// Every collective is one or more steps, and every rank runs the same steps in the same order:
//   1. copy this rank's bytes for step s (if any) into its slot of buffer s % 2
//   2. arrive[me] = s; wake sleepers
//   3. wait until arrive[q] >= s for every peer q
//   4. read the slots the collective needs (all-reduce: every rank sums all slots in rank order itself)
// Two buffers make step 1 of step s + 2 safe: a rank starts step s + 2 only after seeing every peer arrive at
// s + 1, and a peer arrives at s + 1 only after it finished reading step s, the last user of that buffer.
// Tensors larger than a slot go through in slot-sized chunks, one step each.
//
// Waiting (step 3): spin for kSpin, then sleep on the peer's `arrive` word with FUTEX_WAIT (shared, not
// FUTEX_PRIVATE_FLAG: the waker is another process) in slices of kSlice. Between slices: is the peer's
// process still there (kill(pid, 0) and not a zombie), did some rank give up, has the wait run past the
// group timeout. A dead peer is reported within about kSlice, a hung one after the timeout, both by rank,
// through the GroupFaultReporter (the same messages and store record as Gloo's groups).
#include "distributed/shm_group.h"

#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <mutex>

#include "core/error.h"
#include "distributed/group_fault.h"
#include "distributed/ordered_reduce.h"
#include "distributed/shm_segment.h"

namespace shardlm {
namespace {

using Clock = std::chrono::steady_clock;
using Word = std::atomic<uint32_t>;
static_assert(sizeof(Word) == sizeof(uint32_t) && Word::is_always_lock_free, "futex words must be plain 32-bit");

// Long enough to cover the usual skew between ranks entering a collective on a quiet host (a few to a few
// tens of microseconds), short enough that an oversubscribed core is given back quickly.
constexpr auto kSpin = std::chrono::microseconds(50);
// How often a sleeping rank checks that its peers are alive.
constexpr auto kSlice = std::chrono::milliseconds(50);
constexpr uint64_t kMagic = 0x73686172646c6d31ull;  // "shardlm1"
constexpr size_t kLine = 64;

struct alignas(kLine) Header {
  uint64_t magic;
  uint32_t size;
  uint64_t slot_bytes;
};
struct alignas(kLine) GaveUp {
  Word rank_plus_one;
};
struct alignas(kLine) RankWord {
  Word arrive;
  Word waiters;
  std::atomic<uint64_t> call[2];
};

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
size_t header_bytes(int size) { return round_up(sizeof(Header) + sizeof(GaveUp) + size * sizeof(RankWord), 4096); }

// 16 MiB of slots per group, 4 MiB per slot at most, 256 KiB at least.
size_t default_slot_bytes(int size) {
  return std::clamp<size_t>(round_up((16u << 20) / (2 * size), 4096), 256u << 10, 4u << 20);
}

long futex(Word* word, int op, uint32_t value, const timespec* timeout) {
  return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// A collective call packed into 64 bits: op (4) | reduce op (4) | dtype (4) | root (12) | bytes (40).
enum class Op : uint64_t { AllReduce = 1, AllGather, Broadcast, Barrier, BroadcastBytes, AllGatherBytes };
uint64_t pack_call(Op op, uint64_t bytes = 0, int root = 0, DType dt = DType::F32, ReduceOp red = ReduceOp::Sum) {
  return (uint64_t)op << 60 | (uint64_t)red << 56 | (uint64_t)dt << 52 | ((uint64_t)root & 0xfff) << 40 |
         (bytes & ((1ull << 40) - 1));
}
std::string describe_call(uint64_t c) {
  const uint64_t bytes = c & ((1ull << 40) - 1);
  const int root = (int)(c >> 40 & 0xfff);
  switch ((Op)(c >> 60)) {
    case Op::AllReduce:
      return str_cat("all_reduce (", reduce_op_name((ReduceOp)(c >> 56 & 0xf)), ") of ", bytes, " bytes of ",
                     dtype_name((DType)(c >> 52 & 0xf)));
    case Op::AllGather:
      return str_cat("all_gather of ", bytes, " bytes");
    case Op::Broadcast:
      return str_cat("broadcast of ", bytes, " bytes from group rank ", root);
    case Op::Barrier:
      return "barrier";
    case Op::BroadcastBytes:
      return str_cat("broadcast_bytes from group rank ", root);
    case Op::AllGatherBytes:
      return "all_gather_bytes";
  }
  return str_cat("an unknown call (", c, ")");
}

// Step counters wrap at 2^32; compare by signed difference.
inline bool reached(uint32_t value, uint32_t step) { return (int32_t)(value - step) >= 0; }

// Whether process `pid` exists and is not a zombie (exited, not yet reaped).
bool process_alive(int pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: kill() said it exists
  const size_t paren = line.rfind(')');        // "pid (comm) S ...": the state follows the command name
  if (paren == std::string::npos || paren + 2 >= line.size()) return true;
  return line[paren + 2] != 'Z' && line[paren + 2] != 'X';
}

class ShmProcessGroup : public ProcessGroup {
 public:
  ShmProcessGroup(std::unique_ptr<ShmSegment> seg, std::shared_ptr<TcpStore> store, const ShmGroupOptions& opts)
      : seg_(std::move(seg)),
        opts_(opts),
        size_((int)opts.global_ranks.size()),
        me_(opts.group_rank),
        faults_(std::move(store), opts.store_prefix, opts.name, opts.global_ranks, opts.group_rank, opts.timeout, "shm") {
    char* base = static_cast<char*>(seg_->base());
    header_ = reinterpret_cast<Header*>(base);
    gave_up_ = reinterpret_cast<GaveUp*>(base + sizeof(Header));
    words_ = reinterpret_cast<RankWord*>(base + sizeof(Header) + sizeof(GaveUp));
    data_ = base + header_bytes(size_);
  }

  int rank() const override { return me_; }
  int size() const override { return size_; }
  std::string backend() const override { return "shm"; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    check_all_reduce_args(t, backend(), Device::CPU);
    if (t.numel() == 0) return;
    run("all_reduce", pack_call(Op::AllReduce, t.nbytes(), 0, t.dtype(), op), [&] {
      const DType dt = t.dtype();
      const size_t esz = dtype_size(dt), n = (size_t)t.numel(), chunk = opts_.slot_bytes / esz;
      char* p = static_cast<char*>(t.raw());
      std::vector<const void*> inputs(size_);
      for (size_t start = 0; start < n; start += chunk) {
        const size_t count = std::min(chunk, n - start);
        step("all_reduce", p + start * esz, count * esz, [&](int buf) {
          for (int r = 0; r < size_; r++) inputs[r] = slot(buf, r);
          ordered_reduce(inputs.data(), size_, p + start * esz, count, dt, op, scratch_);
        });
      }
    });
  }

  void all_gather(const Tensor& in, Tensor& out) override {
    check_all_gather_args(in, out, size(), backend(), Device::CPU);
    if (in.nbytes() == 0) return;
    run("all_gather", pack_call(Op::AllGather, in.nbytes()), [&] {
      gather_chunks("all_gather", static_cast<const char*>(in.raw()), std::vector<size_t>(size_, in.nbytes()),
                    [&](int q, size_t offset, const char* src, size_t bytes) {
                      std::memcpy(static_cast<char*>(out.raw()) + q * in.nbytes() + offset, src, bytes);
                    });
    });
  }

  void broadcast(Tensor& t, int root) override {
    check_broadcast_args(t, root, size(), backend(), Device::CPU);
    if (t.nbytes() == 0) return;
    run("broadcast", pack_call(Op::Broadcast, t.nbytes(), root), [&] { broadcast_raw("broadcast", static_cast<char*>(t.raw()), t.nbytes(), root); });
  }

  void barrier() override {
    run("barrier", pack_call(Op::Barrier), [&] { step("barrier", nullptr, 0, [](int) {}); });
  }

  void broadcast_bytes(std::string& bytes, int root) override {
    check_root(root, size(), "broadcast_bytes");
    run("broadcast_bytes", pack_call(Op::BroadcastBytes, 0, root), [&] {
      uint64_t len = bytes.size();
      step("broadcast_bytes", me_ == root ? &len : nullptr, me_ == root ? sizeof(len) : 0,
           [&](int buf) { std::memcpy(&len, slot(buf, root), sizeof(len)); });
      if (me_ != root) bytes.assign(len, '\0');
      broadcast_raw("broadcast_bytes", bytes.data(), len, root);
    });
  }

  std::vector<std::string> all_gather_bytes(const std::string& mine) override {
    std::vector<std::string> out(size_);
    run("all_gather_bytes", pack_call(Op::AllGatherBytes), [&] {
      std::vector<size_t> lens(size_);
      const uint64_t my_len = mine.size();
      step("all_gather_bytes", &my_len, sizeof(my_len), [&](int buf) {
        for (int q = 0; q < size_; q++) {
          uint64_t l = 0;
          std::memcpy(&l, slot(buf, q), sizeof(l));
          lens[q] = l;
        }
      });
      for (int q = 0; q < size_; q++) out[q].assign(lens[q], '\0');
      gather_chunks("all_gather_bytes", mine.data(), lens, [&](int q, size_t offset, const char* src, size_t bytes) {
        std::memcpy(out[q].data() + offset, src, bytes);
      });
    });
    return out;
  }

 private:
  char* slot(int buf, int r) const { return data_ + ((size_t)buf * size_ + r) * opts_.slot_bytes; }

  // One collective under the group's lock; a group that failed once fails every later call the same way.
  template <typename F>
  void run(const char* op, uint64_t call, F&& body) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_.empty()) fail(op, " on a process group that already failed: ", failure_);
    call_ = call;
    body();
  }

  // Steps 1-4 of the header comment. `read(buf)` runs once every rank has published step s.
  template <typename Read>
  void step(const char* op, const void* mine, size_t bytes, Read&& read) {
    const uint32_t s = ++seq_;
    const int buf = (int)(s & 1);
    if (bytes) std::memcpy(slot(buf, me_), mine, bytes);
    RankWord& w = words_[me_];
    w.call[buf].store(call_, std::memory_order_relaxed);  // published by the store to `arrive` below
    w.arrive.store(s, std::memory_order_seq_cst);
    if (w.waiters.load(std::memory_order_seq_cst) > 0) futex(&w.arrive, FUTEX_WAKE, INT_MAX, nullptr);
    for (int q = 0; q < size_; q++)
      if (q != me_) wait_for(q, s, op);
    for (int q = 0; q < size_; q++)
      if (const uint64_t theirs = words_[q].call[buf].load(std::memory_order_relaxed); theirs != call_)
        give_up(op, str_cat("rank ", opts_.global_ranks[q], " called ", describe_call(theirs), " while rank ",
                            opts_.global_ranks[me_], " called ", describe_call(call_),
                            ": every rank must make the same collective calls in the same order"));
    read(buf);
  }

  // Chunked transfer where rank q contributes lens[q] bytes (this rank's from `mine`); deliver(q, offset, src,
  // n) receives every rank's bytes, its own included, chunk by chunk.
  template <typename Deliver>
  void gather_chunks(const char* op, const char* mine, const std::vector<size_t>& lens, Deliver&& deliver) {
    const size_t longest = *std::max_element(lens.begin(), lens.end());
    const size_t chunk = opts_.slot_bytes;
    for (size_t offset = 0; offset < longest; offset += chunk) {
      const size_t my_bytes = lens[me_] > offset ? std::min(chunk, lens[me_] - offset) : 0;
      step(op, mine + offset, my_bytes, [&](int buf) {
        for (int q = 0; q < size_; q++)
          if (lens[q] > offset) deliver(q, offset, slot(buf, q), std::min(chunk, lens[q] - offset));
      });
    }
  }

  void broadcast_raw(const char* op, char* p, size_t bytes, int root) {
    for (size_t offset = 0; offset < bytes; offset += opts_.slot_bytes) {
      const size_t n = std::min(opts_.slot_bytes, bytes - offset);
      step(op, p + offset, me_ == root ? n : 0, [&](int buf) {
        if (me_ != root) std::memcpy(p + offset, slot(buf, root), n);
      });
    }
  }

  void wait_for(int q, uint32_t s, const char* op) {
    Word& arrive = words_[q].arrive;
    if (reached(arrive.load(std::memory_order_acquire), s)) return;
    const auto spin_end = Clock::now() + kSpin;
    for (int i = 1;; i++) {
      cpu_relax();
      if (reached(arrive.load(std::memory_order_acquire), s)) return;
      if (i % 64 == 0 && Clock::now() >= spin_end) break;
    }
    sleep_until(q, s, op);
  }

  // Sleeps on peer q's arrive word until it reaches step s; fails naming the rank when q's process is gone,
  // q does not arrive within the group timeout, or another rank gave up on the group.
  void sleep_until(int q, uint32_t s, const char* op) {
    Word& arrive = words_[q].arrive;
    Word& waiters = words_[q].waiters;
    const auto start = Clock::now();
    const auto deadline = start + collective_wait(opts_.timeout);
    auto next_liveness_check = start + kSlice;
    waiters.fetch_add(1, std::memory_order_seq_cst);
    struct Leave {
      Word& w;
      ~Leave() { w.fetch_sub(1, std::memory_order_seq_cst); }
    } leave{waiters};
    for (;;) {
      const uint32_t v = arrive.load(std::memory_order_seq_cst);
      if (reached(v, s)) return;
      if (const uint32_t g = gave_up_->rank_plus_one.load(std::memory_order_acquire); g != 0)
        give_up(op, str_cat("rank ", opts_.global_ranks[g - 1], " abandoned the shared-memory group"));
      const auto now = Clock::now();
      if (now >= next_liveness_check) {
        if (!process_alive(seg_->pids()[q]))
          give_up(op, str_cat("rank ", opts_.global_ranks[q], " (pid ", seg_->pids()[q], ") is gone"));
        next_liveness_check = now + kSlice;
      }
      if (now >= deadline)
        give_up(op, str_cat("rank ", opts_.global_ranks[q], " did not reach step ", s, " within ",
                            collective_wait(opts_.timeout).count() / 1000.0, " s"));
      const auto left = std::min<Clock::duration>(kSlice, deadline - now);
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
      futex(&arrive, FUTEX_WAIT, v, &ts);  // returns on a wake-up, a changed word, the slice's end or a signal
    }
  }

  std::vector<int> dead_peers() const {
    std::vector<int> dead;
    for (int q = 0; q < size_; q++)
      if (q != me_ && !process_alive(seg_->pids()[q])) dead.push_back(q);
    return dead;
  }

  // Records the failure (the fault record in the store first, so peers report the root cause), tells the
  // peers through `gave_up` and wakes them all, then throws. Every later call rethrows the same message.
  [[noreturn]] void give_up(const char* op, const std::string& detail) {
    failure_ = faults_.diagnose(op, detail, dead_peers(), GroupFaultReporter::kProcessGone);
    uint32_t expected = 0;
    gave_up_->rank_plus_one.compare_exchange_strong(expected, (uint32_t)me_ + 1);
    for (int q = 0; q < size_; q++) futex(&words_[q].arrive, FUTEX_WAKE, INT_MAX, nullptr);
    fail(failure_);
  }

  std::unique_ptr<ShmSegment> seg_;
  ShmGroupOptions opts_;
  const int size_, me_;
  GroupFaultReporter faults_;
  Header* header_ = nullptr;
  GaveUp* gave_up_ = nullptr;
  RankWord* words_ = nullptr;
  char* data_ = nullptr;
  std::mutex mu_;
  uint32_t seq_ = 0;
  uint64_t call_ = 0;  // the collective in progress (pack_call)
  std::vector<float> scratch_;  // F16/BF16 all-reduce accumulator
  std::string failure_;
};

}  // namespace

std::shared_ptr<ProcessGroup> create_shm_group(std::shared_ptr<TcpStore> store, const ShmGroupOptions& options,
                                               std::string* why_not) {
  ShmGroupOptions opts = options;
  const int size = (int)opts.global_ranks.size();
  SHARDLM_CHECK(size >= 1 && opts.group_rank >= 0 && opts.group_rank < size);
  if (opts.slot_bytes == 0) opts.slot_bytes = default_slot_bytes(size);
  opts.slot_bytes = round_up(opts.slot_bytes, kLine);
  ShmSegment::Options so;
  so.group_name = opts.name;
  so.global_ranks = opts.global_ranks;
  so.group_rank = opts.group_rank;
  so.store_prefix = opts.store_prefix + "shm/";
  so.bytes = header_bytes(size) + 2 * (size_t)size * opts.slot_bytes;
  so.timeout = opts.timeout;
  so.initialise = [size, slot_bytes = opts.slot_bytes](void* base) {
    auto* h = new (base) Header{};
    h->magic = kMagic;
    h->size = (uint32_t)size;
    h->slot_bytes = slot_bytes;
    new (static_cast<char*>(base) + sizeof(Header)) GaveUp{};
    for (int r = 0; r < size; r++)
      new (static_cast<char*>(base) + sizeof(Header) + sizeof(GaveUp) + r * sizeof(RankWord)) RankWord{};
  };
  so.validate = [size, slot_bytes = opts.slot_bytes](const void* base) -> std::string {
    const auto* h = static_cast<const Header*>(base);
    if (h->magic != kMagic || h->size != (uint32_t)size || h->slot_bytes != slot_bytes)
      return str_cat("the segment's header (size ", h->size, ", slot ", h->slot_bytes, " bytes) does not match this rank's (",
                     size, ", ", slot_bytes, "): ranks of different shardlm builds?");
    return "";
  };
  std::string error;
  std::unique_ptr<ShmSegment> seg = ShmSegment::establish(*store, so, &error);
  if (!seg) {
    if (why_not) *why_not = error;
    return nullptr;
  }
  auto group = std::make_shared<ShmProcessGroup>(std::move(seg), std::move(store), opts);
  group->barrier();
  return group;
}

}  // namespace shardlm
