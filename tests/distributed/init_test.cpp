// init_distributed in one process: trivial single-process groups, the world = DP x TP size check, a rank
// that never arrives, an unreachable store, a port already in use, and the timeout knob.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "core/error.h"
#include "dist_test_util.h"
#include "distributed/parallel_state.h"

using namespace shardlm;
using namespace std::chrono_literals;

namespace {

std::string init_error(const DistributedOptions& opts, const LaunchEnv& env) {
  try {
    init_distributed(opts, env);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

LaunchEnv two_rank_env(int rank, int port) {
  LaunchEnv env;
  env.rank = rank;
  env.world_size = 2;
  env.local_rank = rank;
  env.local_world_size = 2;
  env.master_port = port;
  return env;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST(InitDistributed, SingleProcessHasTrivialGroups) {
  auto state = init_distributed(DistributedOptions{}, LaunchEnv{});
  EXPECT_EQ(state->world.world_size, 1);
  EXPECT_EQ(state->world.ranks, std::vector<int>{0});
  EXPECT_EQ(state->tp.world_size, 1);
  EXPECT_EQ(state->dp.world_size, 1);
  EXPECT_EQ(state->dp.ranks, std::vector<int>{0});
  EXPECT_EQ(state->store, nullptr);  // no networking at all
  auto& g = *state->tp.device_group;
  EXPECT_EQ(g.size(), 1);
  EXPECT_EQ(g.backend(), "single");
  Tensor t = Tensor::from_f32({1.5f, -2.0f}, {2});
  g.all_reduce(t, ReduceOp::Max);
  EXPECT_EQ(t.data<float>()[0], 1.5f);
  EXPECT_EQ(t.data<float>()[1], -2.0f);
  Tensor out = Tensor::zeros({2}, DType::F32);
  g.all_gather(t, out);
  EXPECT_EQ(out.data<float>()[1], -2.0f);
  std::string bytes = "abc";
  state->world.cpu_group->broadcast_bytes(bytes, 0);
  EXPECT_EQ(bytes, "abc");
  EXPECT_EQ(state->world.cpu_group->all_gather_bytes("xy"), std::vector<std::string>{"xy"});
  EXPECT_THROW(g.broadcast(t, 1), Error);
  Tensor wrong = Tensor::zeros({3}, DType::F32);
  EXPECT_THROW(g.all_gather(t, wrong), Error);
  g.barrier();
}

TEST(InitDistributed, SingleProcessOnCudaNeedsNoBackend) {
  DistributedOptions opts;
  opts.device = Device::CUDA;
  auto state = init_distributed(opts, LaunchEnv{});
  EXPECT_EQ(state->world.device_group->size(), 1);
}

TEST(InitDistributed, WorldSizeMustBeDataTimesTensorParallelSize) {
  DistributedOptions opts;
  opts.tensor_parallel_size = 4;
  std::string msg = init_error(opts, two_rank_env(1, 29500));
  EXPECT_NE(msg.find("tensor_parallel_size=4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("data_parallel_size=1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("world_size=2"), std::string::npos) << msg;
  opts.tensor_parallel_size = 1;
  opts.data_parallel_size = 3;
  msg = init_error(opts, two_rank_env(0, 29500));
  EXPECT_NE(msg.find("data_parallel_size=3 x tensor_parallel_size=1 needs world_size=3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("started world_size=2"), std::string::npos) << msg;
  opts.tensor_parallel_size = 0;
  opts.data_parallel_size = 1;
  EXPECT_NE(init_error(opts, LaunchEnv{}).find("tensor_parallel_size must be at least 1"), std::string::npos);
  opts.tensor_parallel_size = 1;
  opts.data_parallel_size = 0;
  EXPECT_NE(init_error(opts, LaunchEnv{}).find("data_parallel_size must be at least 1"), std::string::npos);
}

TEST(InitDistributed, DataParallelWithoutALauncherSaysToStartDpTimesTpProcesses) {
  DistributedOptions opts;
  opts.tensor_parallel_size = 2;
  opts.data_parallel_size = 2;
  std::string msg = init_error(opts, LaunchEnv{});
  EXPECT_NE(msg.find("not started by a launcher (world_size=1)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("start data_parallel_size x tensor_parallel_size = 4 processes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--nproc-per-node=4"), std::string::npos) << msg;
}

TEST(InitDistributed, DataParallelSizeIsGivenOrInferred) {
  auto env = [](int world) {
    LaunchEnv e;
    e.world_size = world;
    e.local_world_size = world;
    e.launcher = "torchrun";
    return e;
  };
  auto resolve = [&](int tp, int dp, int world, bool* inferred) {
    DistributedOptions o;
    o.tensor_parallel_size = tp;
    o.data_parallel_size = dp;
    return resolve_data_parallel_size(o, env(world), inferred);
  };
  bool inferred = true;
  EXPECT_EQ(resolve(2, 1, 2, &inferred), 1);
  EXPECT_FALSE(inferred);
  EXPECT_EQ(resolve(2, 1, 4, &inferred), 2);  // vLLM's external DP
  EXPECT_TRUE(inferred);
  EXPECT_EQ(resolve(1, 1, 3, &inferred), 3);
  EXPECT_TRUE(inferred);
  EXPECT_EQ(resolve(2, 2, 4, &inferred), 2);
  EXPECT_FALSE(inferred);
  EXPECT_EQ(resolve(1, 1, 1, &inferred), 1);
  EXPECT_FALSE(inferred);
  try {
    resolve(2, 1, 3, nullptr);
    ADD_FAILURE() << "world 3 with tp 2 accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("the launcher (torchrun) started world_size=3 processes, which is not a multiple of "
                       "tensor_parallel_size=2"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("data_parallel_size=1"), std::string::npos) << msg;
  }
  EXPECT_THROW(resolve(2, 3, 4, nullptr), Error);
  EXPECT_THROW(resolve(4, 1, 2, nullptr), Error);
}

TEST(InitDistributed, RankThatNeverArrivesIsNamed) {
  DistributedOptions opts;
  opts.tensor_parallel_size = 2;
  opts.timeout = 3s;
  auto start = std::chrono::steady_clock::now();
  std::string msg = init_error(opts, two_rank_env(0, shardlm::testing::free_port()));
  double t = seconds_since(start);
  EXPECT_NE(msg.find("rank 1 did not join the process group within 3 s"), std::string::npos) << msg;
  EXPECT_GE(t, 2.9);
  EXPECT_LT(t, 8.0);
}

TEST(InitDistributed, MissingRankZeroIsNamed) {
  // Rank 1 of a bare launch: rank 0 should host the store, but nobody listens there.
  DistributedOptions opts;
  opts.tensor_parallel_size = 2;
  opts.timeout = 1500ms;
  const int port = shardlm::testing::free_port();
  auto start = std::chrono::steady_clock::now();
  std::string msg = init_error(opts, two_rank_env(1, port));
  EXPECT_LT(seconds_since(start), 6.0);
  EXPECT_NE(msg.find("rank 0 did not start"), std::string::npos) << msg;
  EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << msg;
}

TEST(InitDistributed, UnreachableAgentStoreIsNamed) {
  LaunchEnv env = two_rank_env(1, shardlm::testing::free_port());
  env.launcher = "torchrun";
  env.agent_store = true;
  DistributedOptions opts;
  opts.tensor_parallel_size = 2;
  opts.timeout = 1s;
  std::string msg = init_error(opts, env);
  EXPECT_NE(msg.find("launcher's rendezvous store"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(env.master_port)), std::string::npos) << msg;
}

TEST(InitDistributed, PortInUseWhenRankZeroHostsIsAClearError) {
  const int port = shardlm::testing::free_port();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  ASSERT_EQ(::bind(fd, (sockaddr*)&a, sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  DistributedOptions opts;
  opts.tensor_parallel_size = 2;
  opts.timeout = 3s;
  auto start = std::chrono::steady_clock::now();
  std::string msg = init_error(opts, two_rank_env(0, port));
  ::close(fd);
  EXPECT_LT(seconds_since(start), 2.0);
  EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << msg;
  EXPECT_NE(msg.find("already in use"), std::string::npos) << msg;
}

TEST(InitDistributed, CudaWithoutABackendFailsBeforeNetworking) {
  DistributedOptions opts;
  opts.tensor_parallel_size = 2;
  opts.device = Device::CUDA;
  opts.timeout = 30s;
  auto start = std::chrono::steady_clock::now();
  std::string msg = init_error(opts, two_rank_env(0, shardlm::testing::free_port()));
  EXPECT_LT(seconds_since(start), 1.0);
  EXPECT_NE(msg.find("no device process group backend is registered for cuda"), std::string::npos) << msg;
}

TEST(InitDistributed, TimeoutComesFromOptionsOrEnvironment) {
  DistributedOptions opts;
  opts.timeout = 7s;
  EXPECT_EQ(effective_timeout(opts, {}), 7000ms);
  EXPECT_EQ(effective_timeout(opts, {{"SHARDLM_DIST_TIMEOUT", "2.5"}}), 2500ms);
  EXPECT_EQ(effective_timeout(opts, {{"SHARDLM_DIST_TIMEOUT", "90"}}), 90000ms);
  for (const char* bad : {"abc", "0", "-3", "", "5s"}) {
    try {
      effective_timeout(opts, {{"SHARDLM_DIST_TIMEOUT", bad}});
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("SHARDLM_DIST_TIMEOUT"), std::string::npos) << e.what();
    }
  }
}
