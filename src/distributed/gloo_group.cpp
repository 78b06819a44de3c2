// GlooProcessGroup: collectives via gloo's algorithms (allreduce ring, allgather, allgatherv, broadcast,
// barrier). One collective at a time per group (a mutex), each with a fresh tag and the group timeout.
// After any failure the group is poisoned: its connections are closed so peers fail fast too, and
// every later call rethrows the first error.
#include "distributed/gloo_group.h"

#include <gloo/allgather.h>
#include <gloo/allgatherv.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "core/dtype.h"
#include "core/error.h"
#include "distributed/gloo_store.h"
#include "distributed/group_fault.h"

namespace shardlm {
namespace {

using ReduceFn = gloo::AllreduceOptions::Func;

template <typename T>
struct SumOp {
  static T apply(T a, T b) { return a + b; }
};
template <typename T>
struct MaxOp {
  static T apply(T a, T b) { return a < b ? b : a; }
};
template <typename T>
struct MinOp {
  static T apply(T a, T b) { return b < a ? b : a; }
};

template <typename T, template <typename> class Op>
void reduce_plain(void* c, const void* a, const void* b, size_t n) {
  T* out = static_cast<T*>(c);
  const T* x = static_cast<const T*>(a);
  const T* y = static_cast<const T*>(b);
  for (size_t i = 0; i < n; i++) out[i] = Op<T>::apply(x[i], y[i]);
}

// Half types reduce in f32 and round back once per pairwise step.
template <float (*ToF32)(uint16_t), uint16_t (*FromF32)(float), template <typename> class Op>
void reduce_half(void* c, const void* a, const void* b, size_t n) {
  uint16_t* out = static_cast<uint16_t*>(c);
  const uint16_t* x = static_cast<const uint16_t*>(a);
  const uint16_t* y = static_cast<const uint16_t*>(b);
  for (size_t i = 0; i < n; i++) out[i] = FromF32(Op<float>::apply(ToF32(x[i]), ToF32(y[i])));
}

template <template <typename> class Op>
ReduceFn reduce_fn_for(DType dt) {
  switch (dt) {
    case DType::F32:
      return reduce_plain<float, Op>;
    case DType::I32:
      return reduce_plain<int32_t, Op>;
    case DType::I64:
      return reduce_plain<int64_t, Op>;
    case DType::U8:
      return reduce_plain<uint8_t, Op>;
    case DType::F16:
      return reduce_half<f16_to_f32, f32_to_f16, Op>;
    case DType::BF16:
      return reduce_half<bf16_to_f32, f32_to_bf16, Op>;
    case DType::F8E4M3:
      break;
  }
  fail("all_reduce: unsupported dtype ", dtype_name(dt));
}

ReduceFn reduce_fn(DType dt, ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return reduce_fn_for<SumOp>(dt);
    case ReduceOp::Max:
      return reduce_fn_for<MaxOp>(dt);
    case ReduceOp::Min:
      return reduce_fn_for<MinOp>(dt);
  }
  fail("all_reduce: unsupported reduce op");
}

// A slot no gloo algorithm uses: probing a pair posts a zero-byte receive there.
constexpr uint64_t kProbeSlot = 0x7fffffffffff0000ull;

class GlooProcessGroup : public ProcessGroup {
 public:
  GlooProcessGroup(std::shared_ptr<gloo::rendezvous::Context> ctx, std::shared_ptr<TcpStore> store,
                   const GlooGroupOptions& opts)
      : ctx_(std::move(ctx)),
        opts_(opts),
        faults_(std::move(store), opts.store_prefix, opts.name, opts.global_ranks, opts.group_rank, opts.timeout) {}

  ~GlooProcessGroup() override {
    try {
      ctx_.reset();
    } catch (...) {
    }
  }

  int rank() const override { return opts_.group_rank; }
  int size() const override { return (int)opts_.global_ranks.size(); }
  std::string backend() const override { return "gloo"; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    check_all_reduce_args(t, backend(), Device::CPU);
    if (t.numel() == 0) return;
    ReduceFn fn = reduce_fn(t.dtype(), op);
    const size_t n = (size_t)t.numel();
    run("all_reduce", [&](uint32_t tag) {
      switch (dtype_size(t.dtype())) {
        case 1:
          allreduce_typed<uint8_t>(t.raw(), n, fn, tag);
          break;
        case 2:
          allreduce_typed<uint16_t>(t.raw(), n, fn, tag);
          break;
        case 4:
          allreduce_typed<uint32_t>(t.raw(), n, fn, tag);
          break;
        case 8:
          allreduce_typed<uint64_t>(t.raw(), n, fn, tag);
          break;
        default:
          fail("all_reduce: unsupported element size");
      }
    });
  }

  void all_gather(const Tensor& in, Tensor& out) override {
    check_all_gather_args(in, out, size(), backend(), Device::CPU);
    if (in.nbytes() == 0) return;
    run("all_gather", [&](uint32_t tag) { allgather_bytes(in.raw(), in.nbytes(), out.raw(), tag); });
  }

  void broadcast(Tensor& t, int root) override {
    check_broadcast_args(t, root, size(), backend(), Device::CPU);
    if (t.nbytes() == 0) return;
    run("broadcast", [&](uint32_t tag) { broadcast_raw(t.raw(), t.nbytes(), root, tag); });
  }

  void barrier() override {
    run("barrier", [&](uint32_t tag) {
      gloo::BarrierOptions o(ctx_);
      o.setTag(tag);
      o.setTimeout(collective_wait(opts_.timeout));
      gloo::barrier(o);
    });
  }

  void broadcast_bytes(std::string& bytes, int root) override {
    check_root(root, size(), "broadcast_bytes");
    uint64_t len = bytes.size();
    run("broadcast_bytes", [&](uint32_t tag) { broadcast_raw(&len, sizeof(len), root, tag); });
    if (rank() != root) bytes.assign(len, '\0');
    if (len == 0) return;
    run("broadcast_bytes", [&](uint32_t tag) { broadcast_raw(bytes.data(), len, root, tag); });
  }

  std::vector<std::string> all_gather_bytes(const std::string& mine) override {
    std::vector<uint64_t> lens(size());
    uint64_t my_len = mine.size();
    run("all_gather_bytes", [&](uint32_t tag) { allgather_bytes(&my_len, sizeof(my_len), lens.data(), tag); });
    uint64_t total = 0;
    for (auto l : lens) total += l;
    std::string flat(total, '\0');
    if (total > 0) {
      run("all_gather_bytes", [&](uint32_t tag) {
        gloo::AllgathervOptions o(ctx_);
        char dummy = 0;
        o.setInput<char>(mine.empty() ? &dummy : const_cast<char*>(mine.data()), mine.size());
        o.setOutput<char>(flat.data(), std::vector<size_t>(lens.begin(), lens.end()));
        o.setTag(tag);
        o.setTimeout(collective_wait(opts_.timeout));
        gloo::allgatherv(o);
      });
    }
    std::vector<std::string> out;
    size_t offset = 0;
    for (auto l : lens) {
      out.push_back(flat.substr(offset, l));
      offset += l;
    }
    return out;
  }

  // Collective `op` body; converts every gloo failure into a shardlm::Error naming the lost rank.
  template <typename F>
  void run(const char* op, F&& body) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_.empty())
      fail(op, " on a process group that already failed: ", failure_);
    std::string what;
    try {
      body(next_tag_++);
      return;
    } catch (const Error&) {
      throw;
    } catch (const gloo::Exception& e) {  // IoException and friends
      what = e.what();
    } catch (const gloo::EnforceNotMet& e) {
      what = e.what();
    } catch (const std::exception& e) {
      what = e.what();
    }
    failure_ = faults_.diagnose(op, what, broken_peers());
    // Peers blocked on us fail now rather than at their timeout; the fault record is already written.
    try {
      ctx_->closeConnections();
    } catch (...) {
    }
    fail(failure_);
  }

 private:
  template <typename T>
  void allreduce_typed(void* ptr, size_t n, const ReduceFn& fn, uint32_t tag) {
    gloo::AllreduceOptions o(ctx_);
    o.setOutput<T>(static_cast<T*>(ptr), n);
    o.setReduceFunction(fn);
    o.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
    o.setTag(tag);
    o.setTimeout(collective_wait(opts_.timeout));
    gloo::allreduce(o);
  }

  void allgather_bytes(const void* in, size_t in_bytes, void* out, uint32_t tag) {
    gloo::AllgatherOptions o(ctx_);
    o.setInput<char>(static_cast<char*>(const_cast<void*>(in)), in_bytes);
    o.setOutput<char>(static_cast<char*>(out), in_bytes * size());
    o.setTag(tag);
    o.setTimeout(collective_wait(opts_.timeout));
    gloo::allgather(o);
  }

  void broadcast_raw(void* ptr, size_t bytes, int root, uint32_t tag) {
    gloo::BroadcastOptions o(ctx_);
    o.setOutput<char>(static_cast<char*>(ptr), bytes);
    o.setRoot(root);
    o.setTag(tag);
    o.setTimeout(collective_wait(opts_.timeout));
    gloo::broadcast(o);
  }

  // Group ranks whose connection closed (peer exited, was killed, or reset it). A failed pair rethrows
  // its stored exception on any new operation; a healthy one just gets a zero-byte receive posted on
  // an unused slot (harmless: the group is abandoned after a fault anyway). gloo also poisons every
  // pair with "Timed out ..." when a wait times out, so only closed/reset errors count as lost peers.
  std::vector<int> broken_peers() {
    std::vector<int> broken;
    char dummy = 0;
    for (int i = 0; i < size(); i++) {
      if (i == rank()) continue;
      try {
        auto& pair = ctx_->getPair(i);
        if (!pair) continue;
        auto buf = ctx_->createUnboundBuffer(&dummy, 0);
        pair->recv(buf.get(), kProbeSlot, 0, 0);
      } catch (const std::exception& e) {
        if (connection_lost(e.what())) broken.push_back(i);
      }
    }
    return broken;
  }

  static bool connection_lost(const std::string& what) {
    for (const char* sign : {"closed", "reset", "Read error", "writev", "Broken pipe", "Socket closed"})
      if (what.find(sign) != std::string::npos) return true;
    return false;
  }

  std::shared_ptr<gloo::rendezvous::Context> ctx_;
  GlooGroupOptions opts_;
  GroupFaultReporter faults_;
  std::mutex mu_;
  uint32_t next_tag_ = 1;
  std::string failure_;
};

}  // namespace

std::shared_ptr<ProcessGroup> create_gloo_group(std::shared_ptr<TcpStore> store, const GlooGroupOptions& opts) {
  const int size = (int)opts.global_ranks.size();
  SHARDLM_CHECK(opts.group_rank >= 0 && opts.group_rank < size);
  gloo::transport::tcp::attr attr;
  if (!opts.iface.empty())
    attr.iface = opts.iface;
  else
    attr.hostname = opts.hostname;
  std::shared_ptr<gloo::transport::Device> device;
  try {
    device = gloo::transport::tcp::CreateDevice(attr);
  } catch (const std::exception& e) {
    fail("cannot create gloo's TCP device on ",
         opts.iface.empty() ? "host '" + opts.hostname + "'" : "interface '" + opts.iface + "'", ": ",
         strip_gloo_location(e.what()), " (set GLOO_SOCKET_IFNAME to the interface peers can reach)");
  }
  auto ctx = std::make_shared<gloo::rendezvous::Context>(opts.group_rank, size);
  ctx->setTimeout(opts.timeout);
  GlooStore gloo_store(store, opts.store_prefix + "gloo/", opts.global_ranks, opts.timeout);
  try {
    ctx->connectFullMesh(gloo_store, device);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("connecting the ", opts.name, " process group (rank ", opts.global_ranks[opts.group_rank], ", group rank ",
         opts.group_rank, " of ", size, ") failed: ", strip_gloo_location(e.what()));
  }
  auto group = std::make_shared<GlooProcessGroup>(ctx, std::move(store), opts);
  group->barrier();
  return group;
}

}  // namespace shardlm
