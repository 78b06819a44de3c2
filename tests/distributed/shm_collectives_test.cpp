// Shared-memory collectives (src/distributed/shm_group.*) against Gloo's, in real processes: random data of
// many sizes and dtypes through every op, results bit-identical on every rank; a killed peer named within
// the timeout with nothing left in /dev/shm; two jobs at once on one host; the SHARDLM_CPU_COLLECTIVES
// switch. ShmWorker.* cases run only inside the processes the ShmCollectives.* drivers start.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>

#include "core/dtype.h"
#include "core/error.h"
#include "dist_test_util.h"
#include "distributed/parallel_state.h"
#include "distributed/shm_group.h"

using namespace shardlm;
using namespace shardlm::testing;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<DistributedState> init_from_env() {
  LaunchEnv env = detect_launch_env();
  DistributedOptions opts;
  opts.tensor_parallel_size = env.world_size;
  opts.timeout = std::chrono::seconds(30);
  return init_distributed(opts, env);
}

// Entries of /dev/shm that a segment created by process `pid` would have ("shardlm-<job>-<group>-<pid>-<random>").
std::vector<std::string> segments_of(int pid) {
  std::vector<std::string> found;
  const std::string tag = "-" + std::to_string(pid) + "-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("shardlm-", 0) == 0 && name.find(tag) != std::string::npos) found.push_back(name);
  }
  return found;
}

Tensor random_tensor(DType dt, int64_t n, std::mt19937_64& rng) {
  Tensor t = Tensor::empty({n}, dt);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int64_t i = 0; i < n; i++) {
    switch (dt) {
      case DType::F32:
        t.data<float>()[i] = normal(rng);
        break;
      case DType::F16:
        t.data<uint16_t>()[i] = f32_to_f16(normal(rng));
        break;
      case DType::BF16:
        t.data<uint16_t>()[i] = f32_to_bf16(normal(rng));
        break;
      case DType::I32:
        t.data<int32_t>()[i] = (int32_t)(rng() % 2000001) - 1000000;
        break;
      case DType::I64:
        t.data<int64_t>()[i] = (int64_t)(rng() % 2000000000001ull) - 1000000000000ll;
        break;
      case DType::U8:
        t.data<uint8_t>()[i] = (uint8_t)rng();  // sums wrap modulo 256 on both backends
        break;
    }
  }
  return t;
}

std::string bytes_of(const Tensor& t) { return std::string(static_cast<const char*>(t.raw()), t.nbytes()); }

// Largest |a - b| relative to max(1, |a|) over the elements, as floats.
double max_rel_diff(const Tensor& a, const Tensor& b) {
  Tensor fa = a.to_dtype(DType::F32), fb = b.to_dtype(DType::F32);
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); i++) {
    const double x = fa.data<float>()[i], y = fb.data<float>()[i];
    worst = std::max(worst, std::fabs(x - y) / std::max(1.0, std::fabs(x)));
  }
  return worst;
}

double tolerance(DType dt, int world) {
  const double ulp = dt == DType::F32 ? 1.2e-7 : dt == DType::F16 ? 9.8e-4 : 7.9e-3;
  return 4 * world * ulp;
}

// Every rank holds the same bytes: compared through Gloo.
void expect_same_on_every_rank(ProcessGroup& gloo, const std::string& bytes, const std::string& what) {
  auto all = gloo.all_gather_bytes(bytes);
  for (size_t q = 1; q < all.size(); q++) EXPECT_TRUE(all[q] == all[0]) << what << ": rank " << q << " differs from rank 0";
}

}  // namespace

TEST(ShmWorker, AgainstGloo) {
  SHARDLM_REQUIRE_WORKER();
  auto state = init_from_env();
  const int r = state->env.rank, w = state->env.world_size;
  ProcessGroup& gloo = *state->world.cpu_group;
  ProcessGroup& shm = *state->world.device_group;
  ASSERT_EQ(gloo.backend(), "gloo");
  ASSERT_EQ(shm.backend(), "shm");
  // Set-up unlinks the segment's name once every rank has mapped it.
  EXPECT_TRUE(segments_of(::getpid()).empty());

  // A second group whose 4 KiB slots send every larger tensor through many chunks.
  ShmGroupOptions so;
  so.name = "small-slots";
  for (int q = 0; q < w; q++) so.global_ranks.push_back(q);
  so.group_rank = r;
  so.store_prefix = "shm-test/small-slots/";
  so.timeout = std::chrono::seconds(30);
  so.slot_bytes = 4096;
  std::string why_not;
  auto small = create_shm_group(state->store, so, &why_not);
  ASSERT_TRUE(small) << why_not;

  std::mt19937_64 rng(1234 + 7919 * r);
  int cases = 0;
  for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64, DType::U8}) {
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min}) {
      for (int64_t n : {1, 3, 768, 1025, 65537, (1 << 20) + 5}) {
        const std::string what = dtype_name(dt) + " " + reduce_op_name(op) + " n=" + std::to_string(n);
        Tensor mine = random_tensor(dt, n, rng);
        Tensor by_gloo = mine.clone(), by_shm = mine.clone();
        gloo.all_reduce(by_gloo, op);
        shm.all_reduce(by_shm, op);
        // Two ranks: one addition per element on both backends, so the same bits. More ranks: Gloo's ring
        // adds in another order (and rounds half types after each step), so float sums agree within tolerance.
        const bool exact = w == 2 || op != ReduceOp::Sum || dt == DType::I32 || dt == DType::I64 || dt == DType::U8;
        if (exact)
          EXPECT_TRUE(bytes_of(by_gloo) == bytes_of(by_shm)) << what << " differs from Gloo's";
        else
          EXPECT_LT(max_rel_diff(by_gloo, by_shm), tolerance(dt, w)) << what;
        expect_same_on_every_rank(gloo, bytes_of(by_shm), what);
        if (n < 100000) {  // chunking changes nothing: the reduction is element by element
          Tensor by_small = mine.clone();
          small->all_reduce(by_small, op);
          EXPECT_TRUE(bytes_of(by_small) == bytes_of(by_shm)) << what << " with 4 KiB slots";
        }
        cases++;
      }
    }
  }

  for (DType dt : {DType::F32, DType::F16, DType::I64, DType::U8}) {
    for (int64_t rows : {1, 5, 300}) {
      Tensor in2 = random_tensor(dt, rows * 515, rng).reshape({rows, 515});
      Tensor want = Tensor::zeros({rows * w, 515}, dt), got = Tensor::zeros({rows * w, 515}, dt),
             got_small = Tensor::zeros({rows * w, 515}, dt);
      gloo.all_gather(in2, want);
      shm.all_gather(in2, got);
      small->all_gather(in2, got_small);
      EXPECT_TRUE(bytes_of(want) == bytes_of(got)) << "all_gather " << dtype_name(dt) << " rows=" << rows;
      EXPECT_TRUE(bytes_of(want) == bytes_of(got_small)) << "all_gather (4 KiB slots) rows=" << rows;
      for (int root = 0; root < w; root++) {
        Tensor b = random_tensor(dt, rows * 515, rng), b_small = b.clone(), b_gloo = b.clone();
        shm.broadcast(b, root);
        small->broadcast(b_small, root);
        gloo.broadcast(b_gloo, root);
        EXPECT_TRUE(bytes_of(b) == bytes_of(b_gloo)) << "broadcast from " << root;
        EXPECT_TRUE(bytes_of(b_small) == bytes_of(b_gloo)) << "broadcast (4 KiB slots) from " << root;
      }
    }
  }

  // Control messages: lengths 0 .. several slots, ragged across ranks.
  for (size_t len : {(size_t)0, (size_t)5, (size_t)5000, (size_t)3 * 4096 + 7}) {
    for (int root = 0; root < w; root++) {
      std::string msg = r == root ? std::string(len, (char)('a' + root)) : std::string("stale");
      std::string msg_small = msg;
      shm.broadcast_bytes(msg, root);
      small->broadcast_bytes(msg_small, root);
      EXPECT_EQ(msg, std::string(len, (char)('a' + root)));
      EXPECT_EQ(msg_small, msg);
    }
    const std::string mine(len * (r + 1) / w, (char)('A' + r));
    EXPECT_EQ(shm.all_gather_bytes(mine), gloo.all_gather_bytes(mine)) << "len " << len;
    EXPECT_EQ(small->all_gather_bytes(mine), gloo.all_gather_bytes(mine)) << "len " << len;
  }
  shm.barrier();
  small->barrier();
  // Argument errors are Errors and leave the group usable.
  Tensor bad_out = Tensor::zeros({3, 3}, DType::F32);
  EXPECT_THROW(shm.all_gather(Tensor::zeros({2, 3}, DType::F32), bad_out), Error);
  EXPECT_THROW(shm.broadcast(bad_out, w), Error);
  shm.barrier();
  if (!::testing::Test::HasFailure())
    std::cout << "SHM-WORKER-OK rank=" << r << " world=" << w << " cases=" << cases << std::endl;
}

// Every rank all-reduces 256 KiB tensors until the group fails (the driver SIGKILLs one rank), then reports.
TEST(ShmWorker, UntilAPeerDies) {
  SHARDLM_REQUIRE_WORKER();
  auto state = init_from_env();
  auto& g = *state->world.device_group;
  ASSERT_EQ(g.backend(), "shm");
  std::cout << "SHM-RUNNING rank=" << state->env.rank << " pid=" << ::getpid() << std::endl;
  Tensor t = Tensor::zeros({65536}, DType::F32);
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  try {
    while (std::chrono::steady_clock::now() - start < 60s) g.all_reduce(t);
  } catch (const Error& e) {
    message = e.what();
  }
  std::cout << "SHM-FAILED rank=" << state->env.rank << ": " << message << std::endl;
}

// Rank 0 all-reduces 4 floats while rank 1 all-reduces 8: both must fail naming both calls, not mix data.
TEST(ShmWorker, MismatchedCalls) {
  SHARDLM_REQUIRE_WORKER();
  auto state = init_from_env();
  auto& g = *state->world.device_group;
  const int r = state->env.rank;
  Tensor t = Tensor::zeros({r == 0 ? 4 : 8}, DType::F32);
  try {
    g.all_reduce(t);
    std::cout << "SHM-MISMATCH-UNNOTICED rank=" << r << std::endl;
  } catch (const Error& e) {
    std::cout << "SHM-MISMATCH rank=" << r << ": " << e.what() << std::endl;
  }
}

namespace {

bool has_marker(const Child& c, const std::string& marker) { return c.output().find(marker) != std::string::npos; }

void expect_worker_ok(const Child& c, int world) {
  ASSERT_TRUE(c.exited_with(0)) << describe(c);
  for (int r = 0; r < world; r++)
    EXPECT_TRUE(has_marker(c, "SHM-WORKER-OK rank=" + std::to_string(r) + " world=" + std::to_string(world))) << c.output();
}

}  // namespace

TEST(ShmCollectives, MatchGlooWith2Ranks) { expect_worker_ok(run_under_shardlm_run(2, "ShmWorker.AgainstGloo", {}, 240s), 2); }

TEST(ShmCollectives, MatchGlooWithinToleranceWith3Ranks) {
  expect_worker_ok(run_under_shardlm_run(3, "ShmWorker.AgainstGloo", {}, 300s), 3);
}

TEST(ShmCollectives, TwoJobsAtOnceOnOneHost) {
  // Two launchers, two stores, the same group names: their segments must not meet.
  std::vector<Child> jobs;
  for (int j = 0; j < 2; j++)
    jobs.push_back(start_process({launcher_exe(), "--nproc-per-node=2", "--master-port=" + std::to_string(free_port()),
                                  "--no-python", self_exe(), "--gtest_filter=ShmWorker.AgainstGloo"},
                                 worker_env()));
  wait_all({&jobs[0], &jobs[1]}, 300s);
  for (const Child& c : jobs) expect_worker_ok(c, 2);
}

TEST(ShmCollectives, KilledPeerIsNamedWithinTheTimeoutAndLeavesNoSegment) {
  // Rank 1 is SIGKILLed from outside while both ranks are inside all-reduces. Rank 0 must fail naming
  // rank 1 well within SHARDLM_DIST_TIMEOUT (a liveness check, not the timeout, ends the wait).
  auto ranks = start_bare_ranks(2, "ShmWorker.UntilAPeerDies", {{"SHARDLM_DIST_TIMEOUT", "20"}});
  const auto started = std::chrono::steady_clock::now();
  while (!(has_marker(ranks[0], "SHM-RUNNING") && has_marker(ranks[1], "SHM-RUNNING")) &&
         std::chrono::steady_clock::now() - started < 60s)
    std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(has_marker(ranks[1], "SHM-RUNNING")) << describe(ranks[1]);
  std::this_thread::sleep_for(300ms);
  ::kill(ranks[1].pid, SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  wait_all({&ranks[0], &ranks[1]}, 40s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  ASSERT_TRUE(ranks[0].exited_with(0)) << describe(ranks[0]);
  const std::string out = ranks[0].output();
  EXPECT_NE(out.find("SHM-FAILED rank=0: lost rank 1 during all_reduce: its process exited or was killed"),
            std::string::npos)
      << out;
  EXPECT_LT(seconds, 5.0) << out;
  for (const Child& c : ranks) EXPECT_TRUE(segments_of(c.pid).empty()) << "a segment of pid " << c.pid << " is left";
}

TEST(ShmCollectives, GlooCanBeForced) {
  // DistWorker.Collectives checks the device group's backend against SHARDLM_CPU_COLLECTIVES.
  Child c = run_under_shardlm_run(2, "DistWorker.Collectives", {{"SHARDLM_CPU_COLLECTIVES", "gloo"}}, 60s);
  ASSERT_TRUE(c.exited_with(0)) << describe(c);
  EXPECT_EQ(count_occurrences(c.output(), "DIST-WORKER-OK"), 2) << c.output();
}

TEST(ShmCollectives, KilledRankIsNamedUnderGlooToo) {
  auto ranks = start_bare_ranks(2, "DistWorker.Fault", {{"SHARDLM_TEST_FAULT", "kill"}, {"SHARDLM_CPU_COLLECTIVES", "gloo"}});
  wait_all({&ranks[0], &ranks[1]}, 40s);
  ASSERT_TRUE(ranks[0].exited_with(0)) << describe(ranks[0]);
  const std::string out = ranks[0].output();
  EXPECT_NE(out.find("lost rank 1 during"), std::string::npos) << out;
  EXPECT_NE(out.find("; gloo: "), std::string::npos) << out;
}

TEST(ShmCollectives, BadSettingIsOneClearError) {
  Child c = run_under_shardlm_run(2, "DistWorker.Collectives", {{"SHARDLM_CPU_COLLECTIVES", "fast"}}, 60s);
  EXPECT_FALSE(c.exited_with(0)) << describe(c);
  EXPECT_NE(c.output().find("SHARDLM_CPU_COLLECTIVES='fast' is not one of auto, shm, gloo"), std::string::npos)
      << c.output();
}

TEST(ShmCollectives, MismatchedCallsFailNamingBoth) {
  Child c = run_under_shardlm_run(2, "ShmWorker.MismatchedCalls", {{"SHARDLM_DIST_TIMEOUT", "10"}}, 60s);
  ASSERT_TRUE(c.exited_with(0)) << describe(c);
  const std::string out = c.output();
  EXPECT_EQ(count_occurrences(out, "SHM-MISMATCH rank="), 2) << out;
  EXPECT_NE(out.find("rank 1 called all_reduce (sum) of 32 bytes of float32 while rank 0 called all_reduce (sum) of 16 "
                     "bytes of float32"),
            std::string::npos)
      << out;
}

TEST(ShmCollectives, SigtermMidCollectiveLeavesNoSegment) {
  // SIGTERM to shardlm-run reaches both workers inside all-reduces; nothing of theirs may stay in /dev/shm.
  Child c = start_process({launcher_exe(), "--standalone", "--nproc-per-node=2", "--no-python", self_exe(),
                           "--gtest_filter=ShmWorker.UntilAPeerDies"},
                          worker_env());
  const auto started = std::chrono::steady_clock::now();
  while (count_occurrences(c.output(), "SHM-RUNNING") < 2 && std::chrono::steady_clock::now() - started < 60s)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(count_occurrences(c.output(), "SHM-RUNNING"), 2) << describe(c);
  std::this_thread::sleep_for(300ms);
  ::kill(c.pid, SIGTERM);
  wait_all({&c}, 30s);
  EXPECT_TRUE(c.finished && !c.exited_with(0)) << describe(c);
  const std::string out = c.output();
  for (size_t at = out.find(" pid="); at != std::string::npos; at = out.find(" pid=", at + 1)) {
    const int pid = std::atoi(out.c_str() + at + 5);
    EXPECT_TRUE(segments_of(pid).empty()) << "a segment of worker pid " << pid << " is left";
  }
}
