// Data parallelism in init_distributed: world = dp * tp ranks with TP innermost (replica = rank / tp).
// Driver tests start this binary as workers (shardlm-run or bare RANK/WORLD_SIZE) that check their world,
// TP and DP groups (global ranks, rank in group, collectives on each), with data_parallel_size given or
// inferred from the world size (vLLM's external DP); and shapes that do not fit fail on every rank at once.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "core/error.h"
#include "dist_test_util.h"
#include "distributed/parallel_state.h"

using namespace shardlm;
using namespace shardlm::testing;
using namespace std::chrono_literals;

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// Stands in for NCCL: records the cpu group it was made from and delegates to it.
class RecordingDeviceGroup : public ProcessGroup {
 public:
  explicit RecordingDeviceGroup(std::shared_ptr<ProcessGroup> cpu) : cpu_(std::move(cpu)) {}
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
};

std::vector<int> range(int begin, int end, int step = 1) {
  std::vector<int> v;
  for (int r = begin; r < end; r += step) v.push_back(r);
  return v;
}

// Checks one coordinator: its ranks, this rank's place, and that an all_gather_bytes on the cpu group and
// an all_reduce on the device group see exactly those ranks.
void check_group(const char* name, GroupCoordinator& g, const std::vector<int>& want_ranks, int global_rank,
                 bool recording) {
  SCOPED_TRACE(name);
  ASSERT_EQ(g.ranks, want_ranks);
  ASSERT_EQ(g.world_size, (int)want_ranks.size());
  const int me = (int)(std::find(want_ranks.begin(), want_ranks.end(), global_rank) - want_ranks.begin());
  ASSERT_EQ(g.rank_in_group, me);
  ASSERT_EQ(g.cpu_group->rank(), me);
  ASSERT_EQ(g.cpu_group->size(), g.world_size);
  ASSERT_EQ(g.device_group->size(), g.world_size);
  if (recording && g.world_size > 1) {
    auto* dev = dynamic_cast<RecordingDeviceGroup*>(g.device_group.get());
    ASSERT_NE(dev, nullptr);
    EXPECT_EQ(dev->cpu_, g.cpu_group);  // made from this group's cpu group
  }
  std::vector<std::string> got = g.cpu_group->all_gather_bytes("from rank " + std::to_string(global_rank));
  ASSERT_EQ(got.size(), want_ranks.size());
  for (size_t i = 0; i < got.size(); i++) EXPECT_EQ(got[i], "from rank " + std::to_string(want_ranks[i]));
  Tensor t = Tensor::from_f32({(float)(global_rank + 1)}, {1});
  g.device_group->all_reduce(t);
  float want = 0;
  for (int r : want_ranks) want += (float)(r + 1);
  EXPECT_EQ(t.data<float>()[0], want);
}

}  // namespace

// SHARDLM_TEST_TP: tensor_parallel_size; SHARDLM_TEST_DP: data_parallel_size (unset: not given);
// SHARDLM_TEST_FACTORY=1: device groups from a registered (recording) factory; SHARDLM_TEST_EXPECT_ERROR=1:
// init_distributed must fail, and the worker prints the message.
TEST(DpWorker, Groups) {
  SHARDLM_REQUIRE_WORKER();
  LaunchEnv env = detect_launch_env();
  DistributedOptions opts;
  opts.tensor_parallel_size = env_int("SHARDLM_TEST_TP", 1);
  opts.data_parallel_size = env_int("SHARDLM_TEST_DP", 1);
  opts.timeout = 30s;
  const bool recording = env_int("SHARDLM_TEST_FACTORY", 0) == 1;
  if (recording) {
    register_device_group_factory(Device::CUDA, [](const std::shared_ptr<ProcessGroup>& cpu, int) {
      return std::make_shared<RecordingDeviceGroup>(cpu);
    });
    opts.device = Device::CUDA;
  }
  if (env_int("SHARDLM_TEST_EXPECT_ERROR", 0) == 1) {
    try {
      init_distributed(opts, env);
      FAIL() << "init_distributed accepted world_size " << env.world_size;
    } catch (const Error& e) {
      std::cout << "DP-INIT-ERROR rank=" << env.rank << ": " << e.what() << std::endl;
    }
    return;
  }
  auto state = init_distributed(opts, env);
  const int r = env.rank, w = env.world_size, tp = opts.tensor_parallel_size, dp = w / tp;
  check_group("world", state->world, range(0, w), r, recording);
  check_group("tp", state->tp, range(r / tp * tp, (r / tp + 1) * tp), r, recording);
  check_group("dp", state->dp, range(r % tp, w, tp), r, recording);
  EXPECT_EQ(state->dp.world_size, dp);
  EXPECT_EQ(state->dp.rank_in_group, r / tp);
  if (!::testing::Test::HasFailure())
    std::cout << "DIST-DP-OK rank=" << r << " tp=" << state->tp.world_size << " dp=" << state->dp.world_size
              << " dp_rank=" << state->dp.rank_in_group << std::endl;
}

// World 4 = DP 2 x TP 2; rank 3 SIGKILLs itself after one all_reduce in its TP group {2, 3}. Rank 2 must get
// an error naming global rank 3 and the group by its global ranks; replica 0 is untouched.
TEST(DpWorker, TpGroupFault) {
  SHARDLM_REQUIRE_WORKER();
  LaunchEnv env = detect_launch_env();
  DistributedOptions opts;
  opts.tensor_parallel_size = 2;
  opts.timeout = 30s;
  auto state = init_distributed(opts, env);
  auto& g = *state->tp.device_group;
  Tensor t = Tensor::from_f32({1.0f}, {1});
  g.all_reduce(t);
  ASSERT_EQ(t.data<float>()[0], 2.0f);
  if (env.rank == 3) ::kill(::getpid(), SIGKILL);
  if (env.rank < 2) {
    g.barrier();
    std::cout << "DP-FAULT-UNTOUCHED rank=" << env.rank << std::endl;
    return;
  }
  std::string message;
  try {
    for (int i = 0; i < 1000; i++) g.all_reduce(t);
  } catch (const Error& e) {
    message = e.what();
  }
  std::cout << "DP-FAULT-MESSAGE rank=" << env.rank << ": " << message << std::endl;
  EXPECT_NE(message.find("lost rank 3 during all_reduce"), std::string::npos) << message;
  EXPECT_NE(message.find("tp1 group of ranks 2, 3; seen from rank 2"), std::string::npos) << message;
}

namespace {

Child run_groups_worker(int nproc, std::map<std::string, std::string> env) {
  env["SHARDLM_DIST_WORKER"] = "1";
  return run_process({launcher_exe(), "--standalone", "--nproc-per-node=" + std::to_string(nproc), "--no-python",
                      self_exe(), "--gtest_filter=DpWorker.Groups"},
                     env, 60s);
}

void expect_groups_ok(const Child& c, int world, int tp) {
  ASSERT_TRUE(c.exited_with(0)) << describe(c);
  const std::string out = c.output();
  EXPECT_EQ(count_occurrences(out, "DIST-DP-OK"), world) << out;
  for (int r = 0; r < world; r++)
    EXPECT_NE(out.find("DIST-DP-OK rank=" + std::to_string(r) + " tp=" + std::to_string(tp) +
                       " dp=" + std::to_string(world / tp) + " dp_rank=" + std::to_string(r / tp)),
              std::string::npos)
        << out;
}

// Bare ranks (no launcher to stop the others early): every one must fail, quickly, with the message.
void expect_every_rank_refuses(int world, std::map<std::string, std::string> env,
                               const std::vector<std::string>& pieces) {
  env["SHARDLM_DIST_WORKER"] = "1";
  env["SHARDLM_TEST_EXPECT_ERROR"] = "1";
  const std::string port = std::to_string(free_port());
  std::vector<Child> ranks;
  for (int r = 0; r < world; r++) {
    auto e = env;
    e["RANK"] = std::to_string(r);
    e["WORLD_SIZE"] = std::to_string(world);
    e["MASTER_ADDR"] = "127.0.0.1";
    e["MASTER_PORT"] = port;
    ranks.push_back(start_process({self_exe(), "--gtest_filter=DpWorker.Groups"}, e));
  }
  std::vector<Child*> all;
  for (auto& c : ranks) all.push_back(&c);
  wait_all(all, 30s);
  for (int r = 0; r < world; r++) {
    ASSERT_TRUE(ranks[r].exited_with(0)) << "rank " << r << ": " << describe(ranks[r]);
    const std::string out = ranks[r].output();
    EXPECT_EQ(count_occurrences(out, "DP-INIT-ERROR rank=" + std::to_string(r) + ":"), 1) << out;
    for (const auto& p : pieces) EXPECT_NE(out.find(p), std::string::npos) << "missing '" << p << "' in\n" << out;
    EXPECT_LT(ranks[r].elapsed_s, 10.0) << out;
  }
}

}  // namespace

TEST(DataParallel, Tp2Dp2GroupsUnderShardlmRun) {
  // TP groups {0,1} {2,3}, DP groups {0,2} {1,3}; device groups from the factory, made from each cpu group.
  Child c = run_groups_worker(4, {{"SHARDLM_TEST_TP", "2"}, {"SHARDLM_TEST_DP", "2"}, {"SHARDLM_TEST_FACTORY", "1"}});
  expect_groups_ok(c, 4, 2);
  EXPECT_EQ(count_occurrences(c.output(), "data-parallel replicas"), 0) << c.output();
}

TEST(DataParallel, ExternalDpInfersReplicasFromWorldSize) {
  // World 4, TP 2, data_parallel_size not given: 2 replicas, said once (by rank 0).
  Child c = run_groups_worker(4, {{"SHARDLM_TEST_TP", "2"}});
  expect_groups_ok(c, 4, 2);
  EXPECT_EQ(count_occurrences(c.output(), "so running 2 data-parallel replicas"), 1) << c.output();
}

TEST(DataParallel, Dp2Tp1With2Ranks) {
  // Every rank is its own replica: TP groups of one process, the DP group is the world.
  Child c = run_groups_worker(2, {{"SHARDLM_TEST_TP", "1"}, {"SHARDLM_TEST_DP", "2"}});
  expect_groups_ok(c, 2, 1);
}

TEST(DataParallel, WorldNotAMultipleOfTpFailsOnEveryRank) {
  expect_every_rank_refuses(3, {{"SHARDLM_TEST_TP", "2"}},
                            {"started world_size=3 processes, which is not a multiple of tensor_parallel_size=2",
                             "data_parallel_size=1", "start a multiple of 2 processes"});
}

TEST(DataParallel, DpTimesTpNotWorldFailsOnEveryRank) {
  expect_every_rank_refuses(2, {{"SHARDLM_TEST_TP", "2"}, {"SHARDLM_TEST_DP", "2"}},
                            {"data_parallel_size=2 x tensor_parallel_size=2 needs world_size=4",
                             "started world_size=2 processes"});
}

TEST(DataParallel, FaultInATpGroupNamesGlobalRanks) {
  const std::string port = std::to_string(free_port());
  std::vector<Child> ranks;
  for (int r = 0; r < 4; r++)
    ranks.push_back(start_process({self_exe(), "--gtest_filter=DpWorker.TpGroupFault"},
                                  {{"SHARDLM_DIST_WORKER", "1"}, {"RANK", std::to_string(r)}, {"WORLD_SIZE", "4"},
                                   {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}}));
  wait_all({&ranks[0], &ranks[1], &ranks[2], &ranks[3]}, 40s);
  EXPECT_TRUE(ranks[3].killed_by(SIGKILL)) << describe(ranks[3]);
  for (int r : {0, 1}) {
    ASSERT_TRUE(ranks[r].exited_with(0)) << "rank " << r << ": " << describe(ranks[r]);
    EXPECT_NE(ranks[r].output().find("DP-FAULT-UNTOUCHED rank=" + std::to_string(r)), std::string::npos);
  }
  ASSERT_TRUE(ranks[2].exited_with(0)) << describe(ranks[2]);
  EXPECT_NE(ranks[2].output().find("DP-FAULT-MESSAGE rank=2: lost rank 3"), std::string::npos) << ranks[2].output();
  EXPECT_LT(ranks[2].elapsed_s, 15.0) << ranks[2].output();
}
