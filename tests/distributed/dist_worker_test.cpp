// Worker side of the multi-process tests: these cases run only inside processes that a MultiProcess*
// driver test starts (SHARDLM_DIST_WORKER=1) through shardlm-run, mpirun or directly. Each prints a
// marker line the driver counts, so a skipped or crashed worker cannot pass unnoticed.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "core/dtype.h"
#include "core/error.h"
#include "dist_test_util.h"
#include "distributed/error_file.h"
#include "distributed/parallel_state.h"

using namespace shardlm;

namespace {

std::shared_ptr<DistributedState> init_from_env(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  LaunchEnv env = detect_launch_env();
  DistributedOptions opts;
  opts.tensor_parallel_size = env.world_size;
  opts.timeout = timeout;
  return init_distributed(opts, env);
}

template <typename T>
Tensor filled(DType dt, std::vector<T> values) {
  Tensor t = Tensor::empty({(int64_t)values.size()}, dt);
  for (size_t i = 0; i < values.size(); i++) t.data<T>()[i] = values[i];
  return t;
}

}  // namespace

TEST(DistWorker, Collectives) {
  SHARDLM_REQUIRE_WORKER();
  auto state = init_from_env();
  const int r = state->env.rank, w = state->env.world_size;
  ASSERT_EQ(state->world.rank_in_group, r);
  ASSERT_EQ(state->world.world_size, w);
  ASSERT_EQ(state->tp.world_size, w);
  auto& g = *state->world.device_group;
  // Every rank is on this host: shared memory, unless the driver forced Gloo. Control messages stay on Gloo.
  const char* forced = std::getenv("SHARDLM_CPU_COLLECTIVES");
  ASSERT_EQ(g.backend(), forced && std::string(forced) == "gloo" ? "gloo" : "shm");
  ASSERT_EQ(state->world.cpu_group->backend(), "gloo");
  ASSERT_EQ(g.rank(), r);
  ASSERT_EQ(g.size(), w);

  // Sum over ranks of (r+1), 2(r+1), -r: W(W+1)/2, W(W+1), -W(W-1)/2.
  Tensor f = Tensor::from_f32({(float)(r + 1), 2.0f * (r + 1), (float)-r}, {3});
  g.all_reduce(f);
  EXPECT_EQ(f.data<float>()[0], w * (w + 1) / 2.0f);
  EXPECT_EQ(f.data<float>()[1], (float)(w * (w + 1)));
  EXPECT_EQ(f.data<float>()[2], -w * (w - 1) / 2.0f);

  Tensor i32 = filled<int32_t>(DType::I32, {r, -r, 7});
  g.all_reduce(i32, ReduceOp::Max);
  EXPECT_EQ(i32.data<int32_t>()[0], w - 1);
  EXPECT_EQ(i32.data<int32_t>()[1], 0);
  EXPECT_EQ(i32.data<int32_t>()[2], 7);
  Tensor i32min = filled<int32_t>(DType::I32, {r, -r});
  g.all_reduce(i32min, ReduceOp::Min);
  EXPECT_EQ(i32min.data<int32_t>()[0], 0);
  EXPECT_EQ(i32min.data<int32_t>()[1], -(w - 1));

  // int64 beyond 32 bits: sum of (r+1) * 2^33.
  Tensor i64 = filled<int64_t>(DType::I64, {(int64_t)(r + 1) << 33});
  g.all_reduce(i64);
  EXPECT_EQ(i64.data<int64_t>()[0], ((int64_t)w * (w + 1) / 2) << 33);

  // Half types: 0.5 * (r+1) is exact in f16 and bf16 and so are the sums here.
  for (DType dt : {DType::F16, DType::BF16}) {
    Tensor h = Tensor::from_f32({0.5f * (r + 1), -1.0f}, {2}).to_dtype(dt);
    g.all_reduce(h);
    Tensor back = h.to_dtype(DType::F32);
    EXPECT_EQ(back.data<float>()[0], 0.25f * w * (w + 1)) << dtype_name(dt);
    EXPECT_EQ(back.data<float>()[1], -1.0f * w) << dtype_name(dt);
  }
  Tensor u8 = filled<uint8_t>(DType::U8, {(uint8_t)(r + 1)});
  g.all_reduce(u8);
  EXPECT_EQ(u8.data<uint8_t>()[0], w * (w + 1) / 2);

  // A tensor spanning several 1 MiB ring segments: element i of rank r is i + r.
  const int64_t n = 700001;
  Tensor big = Tensor::empty({n}, DType::F32);
  for (int64_t i = 0; i < n; i++) big.data<float>()[i] = (float)(i % 1000 + r);
  g.all_reduce(big);
  bool big_ok = true;
  for (int64_t i = 0; i < n; i++) big_ok = big_ok && big.data<float>()[i] == (float)(w * (i % 1000) + w * (w - 1) / 2);
  EXPECT_TRUE(big_ok);

  // all_gather [2,3] per rank -> [2W,3]; row j of rank q holds 100q + 10j + col.
  Tensor in = Tensor::empty({2, 3}, DType::F32);
  for (int j = 0; j < 2; j++)
    for (int c = 0; c < 3; c++) in.data<float>()[j * 3 + c] = (float)(100 * r + 10 * j + c);
  Tensor out = Tensor::zeros({2 * w, 3}, DType::F32);
  g.all_gather(in, out);
  for (int q = 0; q < w; q++)
    for (int j = 0; j < 2; j++)
      for (int c = 0; c < 3; c++) EXPECT_EQ(out.data<float>()[(q * 2 + j) * 3 + c], (float)(100 * q + 10 * j + c));

  // broadcast from the last rank.
  Tensor b = Tensor::zeros({5}, DType::I64);
  if (r == w - 1)
    for (int i = 0; i < 5; i++) b.data<int64_t>()[i] = 1000 + i;
  g.broadcast(b, w - 1);
  for (int i = 0; i < 5; i++) EXPECT_EQ(b.data<int64_t>()[i], 1000 + i);

  // Control messages: 100 kB from rank 1, an empty one from rank 0, and ragged all-gathers.
  std::string msg;
  if (r == 1)
    for (int i = 0; i < 100000; i++) msg.push_back((char)(i * 7 % 251));
  state->world.cpu_group->broadcast_bytes(msg, 1);
  ASSERT_EQ(msg.size(), 100000u);
  bool msg_ok = true;
  for (int i = 0; i < 100000; i++) msg_ok = msg_ok && msg[i] == (char)(i * 7 % 251);
  EXPECT_TRUE(msg_ok);
  std::string empty = r == 0 ? "" : "stale";
  state->world.cpu_group->broadcast_bytes(empty, 0);
  EXPECT_EQ(empty, "");

  auto all = state->world.cpu_group->all_gather_bytes(std::string(3 * r, (char)('a' + r)));
  ASSERT_EQ((int)all.size(), w);
  for (int q = 0; q < w; q++) EXPECT_EQ(all[q], std::string(3 * q, (char)('a' + q)));
  auto none = state->world.cpu_group->all_gather_bytes("");
  for (const auto& s : none) EXPECT_EQ(s, "");

  g.barrier();
  // Argument errors are shardlm::Error and do not poison the group.
  Tensor bad_out = Tensor::zeros({3, 3}, DType::F32);
  EXPECT_THROW(g.all_gather(in, bad_out), Error);
  EXPECT_THROW(g.broadcast(b, w), Error);
  g.barrier();
  if (!::testing::Test::HasFailure())
    std::cout << "DIST-WORKER-OK rank=" << r << " world=" << w << " launcher=" << state->env.launcher << std::endl;
}

// SHARDLM_TEST_FAULT picks what the victim rank (SHARDLM_TEST_VICTIM, default 1) does after one
// all_reduce: "kill" (SIGKILL itself), "exit0" (_exit(0) mid-job), "exit3" (write the torchelastic
// error file, then _exit(3)), "stop" (SIGSTOP itself: a hung rank). Survivors keep calling all_reduce
// and must get a shardlm::Error naming the victim.
TEST(DistWorker, Fault) {
  SHARDLM_REQUIRE_WORKER();
  const char* fault = std::getenv("SHARDLM_TEST_FAULT");
  ASSERT_NE(fault, nullptr);
  const int victim = std::getenv("SHARDLM_TEST_VICTIM") ? std::atoi(std::getenv("SHARDLM_TEST_VICTIM")) : 1;
  auto state = init_from_env();
  auto& g = *state->world.device_group;
  const int r = state->env.rank;
  Tensor t = Tensor::from_f32({1.0f}, {1});
  if (r == victim) {
    // One good collective, then the fault. A survivor may see it already in that first collective
    // (a killed socket with unread data is reset, which can discard the last bytes in flight).
    g.all_reduce(t);
    std::string f = fault;
    std::cout << "VICTIM rank=" << r << " fault=" << f << std::endl;
    if (f == "kill") ::kill(::getpid(), SIGKILL);
    if (f == "exit0") ::_exit(0);
    if (f == "exit3") {
      write_torchelastic_error_file("simulated failure on rank " + std::to_string(r));
      ::_exit(3);
    }
    if (f == "stop") ::kill(::getpid(), SIGSTOP);
    FAIL() << "unknown fault " << f;
  }
  auto start = std::chrono::steady_clock::now();
  std::string message;
  try {
    for (int i = 0; i < 1000; i++) {
      g.all_reduce(t);
      if (i == 0) {
        ASSERT_EQ(t.data<float>()[0], (float)state->env.world_size);
      }
    }
  } catch (const Error& e) {
    message = e.what();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "FAULT-MESSAGE rank=" << r << " after " << seconds << " s: " << message << std::endl;
  ASSERT_FALSE(message.empty()) << "all_reduce kept working with rank " << victim << " gone";
  EXPECT_NE(message.find("rank " + std::to_string(victim)), std::string::npos) << message;
  // Later calls fail at once with the same diagnosis instead of touching the dead group.
  try {
    g.barrier();
    ADD_FAILURE() << "barrier succeeded on a failed group";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank " + std::to_string(victim)), std::string::npos) << e.what();
  }
  if (!::testing::Test::HasFailure()) std::cout << "DIST-FAULT-OK rank=" << r << std::endl;
}

namespace {
// Stands in for the future NCCL group: records how it was made and delegates to the cpu group.
class RecordingDeviceGroup : public ProcessGroup {
 public:
  RecordingDeviceGroup(std::shared_ptr<ProcessGroup> cpu, int device_index) : cpu_(std::move(cpu)), device_index_(device_index) {}
  int rank() const override { return cpu_->rank(); }
  int size() const override { return cpu_->size(); }
  std::string backend() const override { return "recording"; }
  void all_reduce(Tensor& t, ReduceOp op) override { cpu_->all_reduce(t, op); }
  void all_gather(const Tensor& in, Tensor& out) override { cpu_->all_gather(in, out); }
  void broadcast(Tensor& t, int root) override { cpu_->broadcast(t, root); }
  void barrier() override { cpu_->barrier(); }
  void broadcast_bytes(std::string& b, int root) override { cpu_->broadcast_bytes(b, root); }
  std::vector<std::string> all_gather_bytes(const std::string& m) override { return cpu_->all_gather_bytes(m); }
  std::shared_ptr<ProcessGroup> cpu_;
  int device_index_;
};
}  // namespace

TEST(DistWorker, DeviceGroupFactory) {
  SHARDLM_REQUIRE_WORKER();
  register_device_group_factory(Device::CUDA, [](const std::shared_ptr<ProcessGroup>& cpu, int device_index) {
    return std::make_shared<RecordingDeviceGroup>(cpu, device_index);
  });
  LaunchEnv env = detect_launch_env();
  DistributedOptions opts;
  opts.tensor_parallel_size = env.world_size;
  opts.device = Device::CUDA;
  auto state = init_distributed(opts, env);
  auto* dev = dynamic_cast<RecordingDeviceGroup*>(state->tp.device_group.get());
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->cpu_, state->tp.cpu_group);  // built from the cpu group
  EXPECT_EQ(dev->device_index_, env.local_rank);
  EXPECT_EQ(state->tp.cpu_group->backend(), "gloo");
  Tensor t = Tensor::from_f32({2.0f}, {1});
  state->tp.device_group->all_reduce(t);
  EXPECT_EQ(t.data<float>()[0], 2.0f * env.world_size);
  if (!::testing::Test::HasFailure()) std::cout << "DIST-FACTORY-OK rank=" << env.rank << std::endl;
}
