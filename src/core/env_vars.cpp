// The registry of environment variables (see env_vars.h). Keep each meaning to one line; details live in the
// code that reads the variable.
#include "core/env_vars.h"

#include <cstdlib>

#include "core/error.h"

namespace shardlm {

const std::vector<EnvVarInfo>& env_vars() {
  static const std::vector<EnvVarInfo> vars = {
      // Yours to set.
      {"SHARDLM_DIST_TIMEOUT", "shardlm", "seconds a rendezvous or collective may wait for another rank (overrides the engine's timeout)"},
      {"SHARDLM_STORE_SECRET", "shardlm",
       "a shared secret the rendezvous store shardlm hosts requires of every client (set it alike on every node)"},
      {"SHARDLM_CPU_COLLECTIVES", "shardlm",
       "auto (default): CPU tensor collectives through shared memory when a group's ranks share a host, else Gloo; shm or gloo forces one"},
      {"SHARDLM_PROFILE_OPS", "shardlm",
       "1: print each op's device time per shape class at exit (or after `shardlm bench`); a path: write it there"},
      {"SHARDLM_CPU_ISA", "shardlm", "portable: the OpenBLAS/scalar CPU kernels instead of the AVX2/FMA/F16C ones"},
      {"SHARDLM_CUDA_GEMV", "shardlm", "largest batch sent to the GEMV kernel instead of cuBLAS (default 1; 0 = always cuBLAS)"},
      {"SHARDLM_CUDA_ATTENTION", "shardlm", "staged: every attention on the staged CUDA-core kernel; simt-decode: large decode batches on the CUDA-core decode kernel; decode-v1: decode without the tensor-core decode kernel (comparisons)"},
      {"SHARDLM_CUDA_ASSUME_GPU", "shardlm", "1: take a GPU as present without asking CUDA (under compute-sanitizer)"},
      {"SHARDLM_WORKER_BINARY", "shardlm",
       "the shardlm program that self-launched ranks run (tensor_parallel_size > 1 without a launcher); default: beside libshardlm"},
      {"SHARDLM_LAUNCHER", "launcher", "set to shardlm-run by shardlm-run for its workers"},
      {"SHARDLM_SELF_LAUNCH", "launcher", "set by a self-launching LLM for the ranks it starts (their arguments)"},
      // Launchers: torchrun (and any RANK/WORLD_SIZE launcher), Open MPI's mpirun, Slurm's srun.
      {"RANK", "launcher", "this process's global rank (torchrun)"},
      {"WORLD_SIZE", "launcher", "number of processes (torchrun)"},
      {"LOCAL_RANK", "launcher", "rank on this host; picks the GPU (torchrun)"},
      {"LOCAL_WORLD_SIZE", "launcher", "processes on this host (torchrun)"},
      {"MASTER_ADDR", "launcher", "host of the rendezvous store"},
      {"MASTER_PORT", "launcher", "port of the rendezvous store"},
      {"TORCHELASTIC_USE_AGENT_STORE", "launcher", "True: torchrun's agent already hosts the store"},
      {"TORCHELASTIC_RUN_ID", "launcher", "torchrun's run id (store key prefix)"},
      {"TORCHELASTIC_RESTART_COUNT", "launcher", "torchrun's restart count (store key prefix)"},
      {"TORCHELASTIC_ERROR_FILE", "launcher", "where a rank's fatal error is written as torchelastic JSON"},
      {"OMPI_COMM_WORLD_RANK", "launcher", "rank (Open MPI)"},
      {"OMPI_COMM_WORLD_SIZE", "launcher", "world size (Open MPI)"},
      {"OMPI_COMM_WORLD_LOCAL_RANK", "launcher", "rank on this host (Open MPI)"},
      {"OMPI_COMM_WORLD_LOCAL_SIZE", "launcher", "processes on this host (Open MPI)"},
      {"OMPI_MCA_ess_base_jobid", "launcher", "job id (Open MPI)"},
      {"PMIX_NAMESPACE", "launcher", "job namespace (PMIx)"},
      {"SLURM_PROCID", "launcher", "rank (srun)"},
      {"SLURM_STEP_NUM_TASKS", "launcher", "world size of the job step (srun)"},
      {"SLURM_NTASKS", "launcher", "world size (srun)"},
      {"SLURM_NPROCS", "launcher", "world size, older spelling (srun)"},
      {"SLURM_LOCALID", "launcher", "rank on this host (srun)"},
      {"SLURM_NODEID", "launcher", "index of this host (srun)"},
      {"SLURM_STEP_TASKS_PER_NODE", "launcher", "tasks per host of the job step (srun)"},
      {"SLURM_TASKS_PER_NODE", "launcher", "tasks per host (srun)"},
      {"SLURM_STEP_NODELIST", "launcher", "hosts of the job step; the first hosts the store (srun)"},
      {"SLURM_JOB_NODELIST", "launcher", "hosts of the job (srun)"},
      {"SLURM_NODELIST", "launcher", "hosts of the job, older spelling (srun)"},
      {"SLURM_JOB_ID", "launcher", "job id (srun)"},
      {"SLURM_JOBID", "launcher", "job id, older spelling (srun)"},
      {"SLURM_STEP_ID", "launcher", "job step id (srun)"},
      {"SLURM_STEPID", "launcher", "job step id, older spelling (srun)"},
      // The system's and Hugging Face's.
      {"GLOO_SOCKET_IFNAME", "system", "network interface for Gloo's connections (as in PyTorch)"},
      {"HF_HUB_CACHE", "system", "Hugging Face hub cache searched for model ids"},
      {"HF_HOME", "system", "Hugging Face home (its hub/ folder is the cache)"},
      {"XDG_CACHE_HOME", "system", "cache root (huggingface/hub under it)"},
      {"HOME", "system", "home folder (~/.cache/huggingface/hub)"},
  };
  return vars;
}

bool is_registered_env_var(const std::string& name) {
  for (const EnvVarInfo& v : env_vars())
    if (name == v.name) return true;
  return false;
}

void require_registered_env_var(const std::string& name) {
  if (!is_registered_env_var(name))
    fail("internal error: environment variable ", name, " is read but missing from src/core/env_vars.cpp");
}

std::optional<std::string> env_value(const std::string& name) {
  require_registered_env_var(name);
  const char* v = std::getenv(name.c_str());
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

}  // namespace shardlm
