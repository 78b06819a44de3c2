// Driver side of the multi-process tests: starts this test binary as 2 or 4 worker processes through
// shardlm-run, mpirun, or directly (RANK/WORLD_SIZE, rank 0 hosting the store), and checks exit codes,
// worker markers and fault messages.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "dist_test_util.h"

using namespace shardlm::testing;
using namespace std::chrono_literals;

namespace {

bool have_mpirun() { return ::system("command -v mpirun > /dev/null 2>&1") == 0; }

void expect_collectives_pass(const Child& c, int world, const std::string& launcher) {
  ASSERT_TRUE(c.exited_with(0)) << describe(c);
  std::string out = c.output();
  EXPECT_EQ(count_occurrences(out, "DIST-WORKER-OK"), world) << out;
  for (int r = 0; r < world; r++)
    EXPECT_NE(out.find("DIST-WORKER-OK rank=" + std::to_string(r) + " world=" + std::to_string(world) +
                       " launcher=" + launcher),
              std::string::npos)
        << out;
}

Child run_under_mpirun(int np, const std::string& filter, std::chrono::seconds limit) {
  const std::string port = std::to_string(free_port());
  return run_process({"mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np",
                      std::to_string(np), "-x", "MASTER_ADDR=127.0.0.1", "-x", "MASTER_PORT=" + port, "-x",
                      "SHARDLM_DIST_WORKER=1", self_exe(), "--gtest_filter=" + filter},
                     worker_env({{"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}}), limit);
}

}  // namespace

TEST(MultiProcess, CollectivesUnderShardlmRunWith2Ranks) {
  Child c = run_under_shardlm_run(2, "DistWorker.Collectives", {}, 60s);
  expect_collectives_pass(c, 2, "shardlm-run");
}

TEST(MultiProcess, CollectivesUnderShardlmRunWith4Ranks) {
  Child c = run_under_shardlm_run(4, "DistWorker.Collectives", {}, 60s);
  expect_collectives_pass(c, 4, "shardlm-run");
}

TEST(MultiProcess, CollectivesUnderMpirunWith2Ranks) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed (Debian package openmpi-bin)";
  Child c = run_under_mpirun(2, "DistWorker.Collectives", 60s);
  expect_collectives_pass(c, 2, "mpirun");
}

TEST(MultiProcess, CollectivesUnderMpirunWith4Ranks) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed (Debian package openmpi-bin)";
  Child c = run_under_mpirun(4, "DistWorker.Collectives", 60s);
  expect_collectives_pass(c, 4, "mpirun");
}

TEST(MultiProcess, KilledRankIsNamedByEverySurvivor) {
  // Three ranks in a ring; rank 1 SIGKILLs itself after one all_reduce. Both survivors must throw an
  // Error naming rank 1 quickly (the 30 s timeout is not what ends it).
  auto ranks = start_bare_ranks(3, "DistWorker.Fault", {{"SHARDLM_TEST_FAULT", "kill"}});
  wait_all({&ranks[0], &ranks[1], &ranks[2]}, 40s);
  EXPECT_TRUE(ranks[1].killed_by(SIGKILL)) << describe(ranks[1]);
  for (int r : {0, 2}) {
    ASSERT_TRUE(ranks[r].exited_with(0)) << "rank " << r << ": " << describe(ranks[r]);
    std::string out = ranks[r].output();
    EXPECT_NE(out.find("DIST-FAULT-OK rank=" + std::to_string(r)), std::string::npos) << out;
    EXPECT_NE(out.find("lost rank 1 during all_reduce"), std::string::npos) << out;
    EXPECT_LT(ranks[r].elapsed_s, 15.0) << out;
  }
}

TEST(MultiProcess, RankExitingMidJobIsNamedWith4Ranks) {
  // Rank 2 leaves with exit code 0 (so no launcher tears the job down). Rank 0 is not its ring
  // neighbour; it must still name rank 2 (via the fault record), not the neighbour that gave up first.
  auto ranks = start_bare_ranks(4, "DistWorker.Fault", {{"SHARDLM_TEST_FAULT", "exit0"}, {"SHARDLM_TEST_VICTIM", "2"}});
  wait_all({&ranks[0], &ranks[1], &ranks[2], &ranks[3]}, 50s);
  for (int r : {0, 1, 3}) {
    ASSERT_TRUE(ranks[r].exited_with(0)) << "rank " << r << ": " << describe(ranks[r]);
    std::string out = ranks[r].output();
    EXPECT_NE(out.find("DIST-FAULT-OK rank=" + std::to_string(r)), std::string::npos) << out;
    EXPECT_NE(out.find("lost rank 2 during"), std::string::npos) << out;
    EXPECT_LT(ranks[r].elapsed_s, 20.0) << out;
  }
}

TEST(MultiProcess, HungRankIsNamedAfterTheTimeout) {
  // Rank 1 stops (SIGSTOP): no connection closes, so rank 0 times out and names the silent rank. Of the 2 s
  // timeout the collective waits 1.3 s, the census of survivors takes at most 0.5 s, 0.2 s are left to exit.
  auto ranks = start_bare_ranks(2, "DistWorker.Fault", {{"SHARDLM_TEST_FAULT", "stop"}, {"SHARDLM_DIST_TIMEOUT", "2"}});
  wait_all({&ranks[0]}, 30s);
  ::kill(ranks[1].pid, SIGKILL);
  wait_all({&ranks[1]}, 5s);
  ASSERT_TRUE(ranks[0].exited_with(0)) << describe(ranks[0]);
  std::string out = ranks[0].output();
  EXPECT_NE(out.find("lost rank 1 during all_reduce: did not respond within 1.3 s"), std::string::npos) << out;
  EXPECT_NE(out.find("; shm: "), std::string::npos) << out;  // one host: the device group is shared memory
  EXPECT_LT(ranks[0].elapsed_s, 15.0) << out;
}

TEST(MultiProcess, ShardlmRunReportsTheFailedRankAndStopsTheOthers) {
  auto start = std::chrono::steady_clock::now();
  Child c = run_under_shardlm_run(2, "DistWorker.Fault", {{"SHARDLM_TEST_FAULT", "exit3"}}, 40s);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(c.finished) << describe(c);
  EXPECT_TRUE(c.exited_with(1)) << describe(c);
  std::string out = c.output();
  EXPECT_NE(out.find("shardlm-run: rank 1 (pid "), std::string::npos) << out;
  EXPECT_NE(out.find(") failed with exit code 3"), std::string::npos) << out;
  // The worker's TORCHELASTIC_ERROR_FILE message is part of the report.
  EXPECT_NE(out.find("shardlm-run: rank 1 error: simulated failure on rank 1"), std::string::npos) << out;
  EXPECT_LT(seconds, 20.0) << out;
}

TEST(MultiProcess, ShardlmRunReportsAKilledRank) {
  Child c = run_under_shardlm_run(2, "DistWorker.Fault", {{"SHARDLM_TEST_FAULT", "kill"}}, 40s);
  EXPECT_TRUE(c.exited_with(1)) << describe(c);
  std::string out = c.output();
  EXPECT_NE(out.find("shardlm-run: rank 1 (pid "), std::string::npos) << out;
  EXPECT_NE(out.find(") failed with signal 9 (SIGKILL)"), std::string::npos) << out;
}

TEST(MultiProcess, ShardlmRunForwardsSigterm) {
  // SIGTERM to the launcher reaches the (sleeping) workers, and the launcher exits 128+15.
  Child c = start_process({launcher_exe(), "--standalone", "--nproc-per-node=2", "sleep", "30"}, {});
  std::this_thread::sleep_for(500ms);
  ::kill(c.pid, SIGTERM);
  auto start = std::chrono::steady_clock::now();
  wait_all({&c}, 15s);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(c.exited_with(128 + SIGTERM)) << describe(c);
  EXPECT_LT(seconds, 3.0);
  EXPECT_NE(c.output().find("received SIGTERM"), std::string::npos) << c.output();
}

// Whether `pid` still runs: a zombie (exited, not yet reaped by whoever inherited it) does not.
bool process_running(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');  // "pid (comm) S ...": the state follows the command name
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

TEST(MultiProcess, WorkersDieWhenShardlmRunIsKilled) {
  // SIGKILL leaves the launcher no chance to forward anything: the workers' parent-death signal (SIGTERM)
  // must end them, or they run on as orphans. Each worker writes its pid (sh's $$, kept by exec) to a file.
  char dir_template[] = "/tmp/shardlm-pdeathsig-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  Child c = start_process({launcher_exe(), "--standalone", "--nproc-per-node=2", "sh", "-c",
                           "echo $$ > " + dir + "/pid.$RANK.tmp && mv " + dir + "/pid.$RANK.tmp " + dir +
                               "/pid.$RANK && exec sleep 60"},
                          {});
  std::vector<pid_t> pids;
  const auto started = std::chrono::steady_clock::now();
  while (pids.size() < 2 && std::chrono::steady_clock::now() - started < 15s) {
    pids.clear();
    for (int r = 0; r < 2; r++) {
      std::ifstream f(dir + "/pid." + std::to_string(r));
      long pid = 0;
      if (f >> pid && pid > 0) pids.push_back((pid_t)pid);
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(pids.size(), 2u) << describe(c);
  ::kill(c.pid, SIGKILL);
  wait_all({&c}, 5s);
  EXPECT_TRUE(c.killed_by(SIGKILL)) << describe(c);
  const auto killed = std::chrono::steady_clock::now();
  for (pid_t pid : pids) {
    while (process_running(pid) && std::chrono::steady_clock::now() - killed < 5s) std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(process_running(pid)) << "worker " << pid << " outlived the SIGKILLed launcher";
    if (process_running(pid)) ::kill(pid, SIGKILL);
  }
  std::filesystem::remove_all(dir);
}

TEST(MultiProcess, ShardlmRunNamesAProgramItCannotStart) {
  Child c = run_process({launcher_exe(), "--standalone", "--nproc-per-node=2", "no-such-program-shardlm"}, {}, 20s);
  EXPECT_TRUE(c.exited_with(2)) << describe(c);
  EXPECT_NE(c.output().find("shardlm-run: cannot start 'no-such-program-shardlm': No such file or directory"),
            std::string::npos)
      << c.output();
}

TEST(MultiProcess, ShardlmRunSucceedsAndPassesTheEnvironment) {
  // `sh -c` prints what a worker sees; both ranks exit 0, so the launcher exits 0.
  Child c = run_process({launcher_exe(), "--nproc_per_node", "2", "--master-port=" + std::to_string(free_port()),
                         "--rdzv-id=job7", "sh", "-c",
                         "echo ENV rank=$RANK local=$LOCAL_RANK world=$WORLD_SIZE lws=$LOCAL_WORLD_SIZE "
                         "agent=$TORCHELASTIC_USE_AGENT_STORE run=$TORCHELASTIC_RUN_ID omp=$OMP_NUM_THREADS "
                         "addr=$MASTER_ADDR group=$GROUP_RANK/$GROUP_WORLD_SIZE"},
                        {{"OMP_NUM_THREADS", "3"}}, 20s);
  ASSERT_TRUE(c.exited_with(0)) << describe(c);
  std::string out = c.output();
  for (int r = 0; r < 2; r++)
    EXPECT_NE(out.find("ENV rank=" + std::to_string(r) + " local=" + std::to_string(r) +
                       " world=2 lws=2 agent=True run=job7 omp=3 addr=127.0.0.1 group=0/1"),
              std::string::npos)
        << out;
}

TEST(MultiProcess, ShardlmRunPortInUseIsAClearError) {
  // Occupy a port, then ask shardlm-run to host its store there.
  int port = free_port();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons((uint16_t)port);
  ASSERT_EQ(::bind(fd, (sockaddr*)&a, sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  Child c = run_process({launcher_exe(), "--master-port", std::to_string(port), "true"}, {}, 10s);
  ::close(fd);
  EXPECT_FALSE(c.exited_with(0)) << describe(c);
  EXPECT_NE(c.output().find("127.0.0.1:" + std::to_string(port)), std::string::npos) << c.output();
  EXPECT_NE(c.output().find("already in use"), std::string::npos) << c.output();
}

TEST(MultiProcess, DeviceGroupComesFromTheRegisteredFactory) {
  Child c = run_under_shardlm_run(2, "DistWorker.DeviceGroupFactory", {}, 60s);
  ASSERT_TRUE(c.exited_with(0)) << describe(c);
  EXPECT_EQ(count_occurrences(c.output(), "DIST-FACTORY-OK"), 2) << c.output();
}

TEST(MultiProcess, ShardlmRunKillsWorkersThatIgnoreSigterm) {
  // Rank 0 fails at once; rank 1 ignores SIGTERM, so the launcher escalates to SIGKILL after ~5 s.
  auto start = std::chrono::steady_clock::now();
  Child c = run_process({launcher_exe(), "--standalone", "--nproc-per-node=2", "sh", "-c",
                         "if [ \"$RANK\" = 0 ]; then sleep 0.3; exit 4; fi; trap '' TERM; exec sleep 60"},
                        {}, 30s);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(c.exited_with(1)) << describe(c);
  EXPECT_NE(c.output().find("shardlm-run: rank 0 (pid "), std::string::npos) << c.output();
  EXPECT_NE(c.output().find(") failed with exit code 4"), std::string::npos) << c.output();
  EXPECT_GT(seconds, 4.5);
  EXPECT_LT(seconds, 12.0);
}
