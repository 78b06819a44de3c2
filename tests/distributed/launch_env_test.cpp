// detect_launch_env over each launcher's variables (as torchrun 2.11, Open MPI 4 and Slurm set them),
// and the errors for inconsistent values.
#include <gtest/gtest.h>

#include "core/error.h"
#include "distributed/launch_env.h"

using shardlm::detect_launch_env;
using shardlm::LaunchEnv;
using Env = std::map<std::string, std::string>;

namespace {

std::string error_of(const Env& env) {
  try {
    detect_launch_env(env);
  } catch (const shardlm::Error& e) {
    return e.what();
  }
  return "";
}

Env torchrun_env() {
  // What `torchrun --standalone --nproc-per-node=2 --no-python PROG` gives rank 1.
  return {{"RANK", "1"},
          {"LOCAL_RANK", "1"},
          {"WORLD_SIZE", "2"},
          {"LOCAL_WORLD_SIZE", "2"},
          {"GROUP_RANK", "0"},
          {"GROUP_WORLD_SIZE", "1"},
          {"ROLE_RANK", "1"},
          {"ROLE_WORLD_SIZE", "2"},
          {"ROLE_NAME", "default"},
          {"MASTER_ADDR", "localhost"},
          {"MASTER_PORT", "41234"},
          {"TORCHELASTIC_USE_AGENT_STORE", "True"},
          {"TORCHELASTIC_RUN_ID", "4f3c2a"},
          {"TORCHELASTIC_RESTART_COUNT", "2"},
          {"TORCHELASTIC_MAX_RESTARTS", "3"},
          {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"},
          {"OMP_NUM_THREADS", "1"},
          {"TORCHELASTIC_ERROR_FILE", "/tmp/x/attempt_0/1/error.json"}};
}

}  // namespace

TEST(LaunchEnv, NoLauncherIsOneProcess) {
  LaunchEnv e = detect_launch_env(Env{{"HOME", "/root"}});
  EXPECT_EQ(e.launcher, "none");
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.local_rank, 0);
  EXPECT_EQ(e.local_world_size, 1);
  EXPECT_EQ(e.master_addr, "127.0.0.1");
  EXPECT_EQ(e.master_port, 29500);
  EXPECT_FALSE(e.agent_store);
  EXPECT_EQ(e.run_id, "");
}

TEST(LaunchEnv, Torchrun) {
  LaunchEnv e = detect_launch_env(torchrun_env());
  EXPECT_EQ(e.launcher, "torchrun");
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.world_size, 2);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "localhost");
  EXPECT_EQ(e.master_port, 41234);
  EXPECT_TRUE(e.agent_store);
  EXPECT_EQ(e.run_id, "4f3c2a");
  EXPECT_EQ(e.restart_count, 2);
}

TEST(LaunchEnv, ShardlmRunIsTorchrunCompatible) {
  Env env = torchrun_env();
  env["SHARDLM_LAUNCHER"] = "shardlm-run";
  LaunchEnv e = detect_launch_env(env);
  EXPECT_EQ(e.launcher, "shardlm-run");
  EXPECT_TRUE(e.agent_store);
  EXPECT_EQ(e.rank, 1);
}

TEST(LaunchEnv, TorchrunWithoutAgentStore) {
  Env env = torchrun_env();
  env["TORCHELASTIC_USE_AGENT_STORE"] = "False";
  EXPECT_FALSE(detect_launch_env(env).agent_store);
  env["TORCHELASTIC_USE_AGENT_STORE"] = "maybe";
  EXPECT_NE(error_of(env).find("TORCHELASTIC_USE_AGENT_STORE='maybe'"), std::string::npos) << error_of(env);
}

TEST(LaunchEnv, OpenMpi) {
  Env env = {{"OMPI_COMM_WORLD_RANK", "3"},       {"OMPI_COMM_WORLD_SIZE", "4"},
             {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
             {"OMPI_MCA_ess_base_jobid", "1250164737"}, {"MASTER_PORT", "31000"}};
  LaunchEnv e = detect_launch_env(env);
  EXPECT_EQ(e.launcher, "mpirun");
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "127.0.0.1");
  EXPECT_EQ(e.master_port, 31000);
  EXPECT_FALSE(e.agent_store);
  EXPECT_EQ(e.run_id, "1250164737");
}

TEST(LaunchEnv, SlurmSrun) {
  Env env = {{"SLURM_PROCID", "5"},        {"SLURM_STEP_NUM_TASKS", "8"}, {"SLURM_NTASKS", "16"},
             {"SLURM_LOCALID", "1"},       {"SLURM_NODEID", "2"},         {"SLURM_STEP_TASKS_PER_NODE", "2(x2),4"},
             {"SLURM_STEP_NODELIST", "gpu[07-10,12],cpu1"}, {"SLURM_JOB_ID", "99"}, {"SLURM_STEP_ID", "3"}};
  LaunchEnv e = detect_launch_env(env);
  EXPECT_EQ(e.launcher, "srun");
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world_size, 8);  // the step's tasks, not the allocation's
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 4);  // node 2 of "2,2,4"
  EXPECT_EQ(e.master_addr, "gpu07");
  EXPECT_EQ(e.run_id, "99.3");
  env["MASTER_ADDR"] = "10.0.0.5";
  EXPECT_EQ(detect_launch_env(env).master_addr, "10.0.0.5");
}

TEST(LaunchEnv, SlurmBatchScriptWithoutStepIsOneProcess) {
  // Inside an sbatch script (no srun step) only one process runs, whatever SLURM_NTASKS says.
  LaunchEnv e = detect_launch_env(Env{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_JOB_ID", "7"}});
  EXPECT_EQ(e.launcher, "none");
  EXPECT_EQ(e.world_size, 1);
}

TEST(LaunchEnv, LauncherPrecedence) {
  Env env = torchrun_env();
  env["SLURM_PROCID"] = "0";
  env["SLURM_STEP_NUM_TASKS"] = "1";
  env["SLURM_STEP_ID"] = "0";
  EXPECT_EQ(detect_launch_env(env).launcher, "torchrun");  // torchrun started inside a Slurm step
  Env mpi = {{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"SLURM_PROCID", "0"},
             {"SLURM_STEP_NUM_TASKS", "1"}};
  EXPECT_EQ(detect_launch_env(mpi).launcher, "mpirun");
}

TEST(LaunchEnv, BareRankAndWorldSize) {
  LaunchEnv e = detect_launch_env(
      Env{{"RANK", "2"}, {"WORLD_SIZE", "3"}, {"MASTER_ADDR", "10.1.2.3"}, {"MASTER_PORT", "1234"}});
  EXPECT_EQ(e.launcher, "none");
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.world_size, 3);
  EXPECT_EQ(e.local_rank, 2);
  EXPECT_EQ(e.local_world_size, 3);
  EXPECT_EQ(e.master_addr, "10.1.2.3");
  EXPECT_EQ(e.master_port, 1234);
}

TEST(LaunchEnv, RankNotBelowWorldSizeIsAnError) {
  Env env = torchrun_env();
  env["RANK"] = "2";
  std::string msg = error_of(env);
  EXPECT_NE(msg.find("RANK=2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("WORLD_SIZE=2"), std::string::npos) << msg;
  Env mpi = {{"OMPI_COMM_WORLD_RANK", "4"}, {"OMPI_COMM_WORLD_SIZE", "4"}};
  msg = error_of(mpi);
  EXPECT_NE(msg.find("OMPI_COMM_WORLD_RANK=4"), std::string::npos) << msg;
}

TEST(LaunchEnv, NonNumericAndOutOfRangeValuesAreErrors) {
  Env env = torchrun_env();
  env["RANK"] = "abc";
  EXPECT_NE(error_of(env).find("RANK='abc' is not an integer"), std::string::npos) << error_of(env);
  env = torchrun_env();
  env["WORLD_SIZE"] = "2x";
  EXPECT_NE(error_of(env).find("WORLD_SIZE='2x'"), std::string::npos) << error_of(env);
  env = torchrun_env();
  env["WORLD_SIZE"] = "0";
  env["RANK"] = "0";
  EXPECT_NE(error_of(env).find("WORLD_SIZE=0"), std::string::npos) << error_of(env);
  env = torchrun_env();
  env["MASTER_PORT"] = "70000";
  EXPECT_NE(error_of(env).find("MASTER_PORT=70000"), std::string::npos) << error_of(env);
  env = torchrun_env();
  env["LOCAL_RANK"] = "5";
  EXPECT_NE(error_of(env).find("local rank 5"), std::string::npos) << error_of(env);
  env = torchrun_env();
  env.erase("MASTER_ADDR");
  EXPECT_NE(error_of(env).find("MASTER_ADDR is not set"), std::string::npos) << error_of(env);
  env = torchrun_env();
  env.erase("RANK");
  EXPECT_NE(error_of(env).find("RANK is not set"), std::string::npos) << error_of(env);
}
