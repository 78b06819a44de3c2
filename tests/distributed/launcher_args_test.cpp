// shardlm-run's torchrun-style command line and the environment it gives each worker.
#include <gtest/gtest.h>

#include "core/error.h"
#include "distributed/launcher.h"
#include "distributed/launcher_args.h"

using namespace shardlm;

namespace {
std::string parse_error(const std::vector<std::string>& args) {
  try {
    parse_launcher_args(args);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(LauncherArgs, TorchrunSpellings) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"--nproc-per-node", "4", "prog"}, {"--nproc_per_node", "4", "prog"}, {"--nproc-per-node=4", "prog"},
           {"--nproc_per_node=4", "prog"}}) {
    LauncherArgs a = parse_launcher_args(args);
    EXPECT_EQ(a.nproc_per_node, 4);
    EXPECT_EQ(a.program, std::vector<std::string>{"prog"});
  }
}

TEST(LauncherArgs, ProgramArgumentsAreUntouched) {
  LauncherArgs a = parse_launcher_args({"--no-python", "--nnodes=2", "--node_rank", "1", "--master-addr", "10.0.0.1",
                                        "--master_port=1234", "--rdzv-id", "r9", "./bin/shardlm", "generate",
                                        "--nproc-per-node=9", "-x"});
  EXPECT_EQ(a.nnodes, 2);
  EXPECT_EQ(a.node_rank, 1);
  EXPECT_EQ(a.master_addr, "10.0.0.1");
  EXPECT_EQ(a.master_port, 1234);
  EXPECT_EQ(a.run_id, "r9");
  EXPECT_EQ(a.nproc_per_node, 1);
  EXPECT_EQ(a.program, (std::vector<std::string>{"./bin/shardlm", "generate", "--nproc-per-node=9", "-x"}));
  EXPECT_EQ(parse_launcher_args({"--", "--weird-name"}).program, std::vector<std::string>{"--weird-name"});
}

TEST(LauncherArgs, Defaults) {
  LauncherArgs a = parse_launcher_args({"prog"});
  EXPECT_EQ(a.nproc_per_node, 1);
  EXPECT_EQ(a.nnodes, 1);
  EXPECT_EQ(a.master_addr, "127.0.0.1");
  EXPECT_EQ(a.master_port, 29500);
  EXPECT_FALSE(a.standalone);
  LauncherArgs s = parse_launcher_args({"--standalone", "prog"});
  EXPECT_TRUE(s.standalone);
  EXPECT_EQ(s.master_addr, "localhost");
  EXPECT_EQ(s.master_port, 0);  // picked when the store starts
  EXPECT_EQ(parse_launcher_args({"--nnodes=3:3", "--node-rank=2", "p"}).nnodes, 3);
  EXPECT_TRUE(parse_launcher_args({"--help"}).help);
}

TEST(LauncherArgs, Errors) {
  EXPECT_NE(parse_error({}).find("no program given"), std::string::npos);
  EXPECT_NE(parse_error({"--nproc-per-node=4"}).find("no program given"), std::string::npos);
  EXPECT_NE(parse_error({"--nproc-per-node=zero", "p"}).find("'zero'"), std::string::npos);
  EXPECT_NE(parse_error({"--nproc-per-node=0", "p"}).find("--nproc-per-node"), std::string::npos);
  EXPECT_NE(parse_error({"--nproc-per-node"}).find("needs a value"), std::string::npos);
  EXPECT_NE(parse_error({"--bogus", "p"}).find("unknown option '--bogus'"), std::string::npos);
  EXPECT_NE(parse_error({"--master-port=70000", "p"}).find("70000"), std::string::npos);
  EXPECT_NE(parse_error({"--nnodes=2", "--node-rank=2", "p"}).find("--node-rank 2"), std::string::npos);
  EXPECT_NE(parse_error({"--nnodes=1:4", "p"}).find("elastic"), std::string::npos);
  EXPECT_NE(parse_error({"--max-restarts=3", "p"}).find("--max-restarts"), std::string::npos);
  EXPECT_NE(parse_error({"--standalone", "--master-port=5", "p"}).find("--standalone"), std::string::npos);
  EXPECT_NE(parse_error({"--standalone=1", "p"}).find("takes no value"), std::string::npos);
}

TEST(LauncherArgs, WorkerEnvironmentMatchesTorchrun) {
  LauncherArgs a = parse_launcher_args({"--nnodes=2", "--node-rank=1", "--nproc-per-node=3", "--master-addr=n0", "p"});
  WorkerEnvInputs in{2, 41000, "run1", "/tmp/e/attempt_0/5/error.json"};
  auto env = worker_environment(a, in, {{"PATH", "/bin"}, {"OMP_NUM_THREADS", "8"}});
  EXPECT_EQ(env["PATH"], "/bin");
  EXPECT_EQ(env["RANK"], "5");  // node 1 * 3 + local 2
  EXPECT_EQ(env["LOCAL_RANK"], "2");
  EXPECT_EQ(env["WORLD_SIZE"], "6");
  EXPECT_EQ(env["LOCAL_WORLD_SIZE"], "3");
  EXPECT_EQ(env["GROUP_RANK"], "1");
  EXPECT_EQ(env["GROUP_WORLD_SIZE"], "2");
  EXPECT_EQ(env["ROLE_RANK"], "5");
  EXPECT_EQ(env["ROLE_WORLD_SIZE"], "6");
  EXPECT_EQ(env["ROLE_NAME"], "default");
  EXPECT_EQ(env["MASTER_ADDR"], "n0");
  EXPECT_EQ(env["MASTER_PORT"], "41000");
  EXPECT_EQ(env["TORCHELASTIC_USE_AGENT_STORE"], "True");
  EXPECT_EQ(env["TORCHELASTIC_RUN_ID"], "run1");
  EXPECT_EQ(env["TORCHELASTIC_RESTART_COUNT"], "0");
  EXPECT_EQ(env["TORCHELASTIC_MAX_RESTARTS"], "0");
  EXPECT_EQ(env["TORCHELASTIC_ERROR_FILE"], "/tmp/e/attempt_0/5/error.json");
  EXPECT_EQ(env["TORCH_NCCL_ASYNC_ERROR_HANDLING"], "1");
  EXPECT_EQ(env["OMP_NUM_THREADS"], "8");  // kept when set
  EXPECT_EQ(worker_environment(a, in, {})["OMP_NUM_THREADS"], "1");
  EXPECT_EQ(env["SHARDLM_LAUNCHER"], "shardlm-run");
}
