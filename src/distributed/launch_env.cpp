// Reading rank / world size / master address from the variables each launcher sets.
//   torchrun, shardlm-run: RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT TORCHELASTIC_*
//   Open MPI:              OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}
//   Slurm srun:            SLURM_PROCID SLURM_STEP_NUM_TASKS SLURM_LOCALID SLURM_STEP_TASKS_PER_NODE ...
//   bare:                  RANK WORLD_SIZE (+ MASTER_ADDR MASTER_PORT), as torch's env:// does
#include "distributed/launch_env.h"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>
#include <vector>

#include "core/env_vars.h"
#include "core/error.h"

extern char** environ;

namespace shardlm {
namespace {

using Env = std::map<std::string, std::string>;

std::optional<std::string> lookup(const Env& env, const std::string& name) {
  require_registered_env_var(name);
  auto it = env.find(name);
  if (it == env.end()) return std::nullopt;
  return it->second;
}

int parse_int(const std::string& name, const std::string& value) {
  const char* begin = value.c_str();
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(begin, &end, 10);
  if (value.empty() || end == begin || *end != '\0' || errno == ERANGE || v < INT_MIN || v > INT_MAX ||
      std::isspace((unsigned char)value[0]) || value[0] == '+')
    fail("environment variable ", name, "='", value, "' is not an integer");
  return (int)v;
}

std::optional<int> lookup_int(const Env& env, const std::string& name) {
  auto v = lookup(env, name);
  if (!v) return std::nullopt;
  return parse_int(name, *v);
}

int require_int(const Env& env, const std::string& name, const std::string& launcher) {
  auto v = lookup_int(env, name);
  if (!v) fail("environment variable ", name, " is not set, but the environment looks like ", launcher,
               "'s (it sets ", name, " for every worker)");
  return *v;
}

bool parse_bool(const std::string& name, const std::string& value) {
  if (value == "True" || value == "true" || value == "1" || value == "TRUE" || value == "yes") return true;
  if (value == "False" || value == "false" || value == "0" || value == "FALSE" || value == "no" ||
      value.empty())
    return false;
  fail("environment variable ", name, "='", value, "' is not a boolean (expected True or False)");
}

// "node[01-04,07],gpu5" -> "node01": rank 0 runs on the first node of a Slurm step.
std::string first_host_of_slurm_nodelist(const std::string& list) {
  std::string first;
  int depth = 0;
  for (char c : list) {
    if (c == '[') depth++;
    if (c == ']') depth--;
    if (c == ',' && depth == 0) break;
    first += c;
  }
  auto open = first.find('[');
  if (open == std::string::npos) return first;
  std::string prefix = first.substr(0, open);
  std::string index;
  for (size_t i = open + 1; i < first.size() && first[i] != '-' && first[i] != ',' && first[i] != ']'; i++)
    index += first[i];
  return prefix + index;
}

// "2(x3),1" -> {2,2,2,1}: Slurm's compressed tasks-per-node list.
std::vector<int> expand_slurm_tasks_per_node(const std::string& name, const std::string& list) {
  std::vector<int> counts;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string token = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    int repeat = 1;
    auto paren = token.find("(x");
    if (paren != std::string::npos) {
      auto close = token.find(')', paren);
      if (close == std::string::npos) fail("environment variable ", name, "='", list, "' is malformed");
      repeat = parse_int(name, token.substr(paren + 2, close - paren - 2));
      token = token.substr(0, paren);
    }
    int count = parse_int(name, token);
    for (int i = 0; i < repeat; i++) counts.push_back(count);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return counts;
}

void read_torchrun(const Env& env, LaunchEnv& out) {
  const std::string who = out.launcher;
  out.rank = require_int(env, "RANK", who);
  out.world_size = require_int(env, "WORLD_SIZE", who);
  out.local_rank = lookup_int(env, "LOCAL_RANK").value_or(out.rank);
  out.local_world_size = lookup_int(env, "LOCAL_WORLD_SIZE").value_or(out.world_size);
  if (!lookup(env, "MASTER_ADDR"))
    fail("environment variable MASTER_ADDR is not set, but the environment looks like ", who, "'s");
  if (!lookup(env, "MASTER_PORT"))
    fail("environment variable MASTER_PORT is not set, but the environment looks like ", who, "'s");
  if (auto v = lookup(env, "TORCHELASTIC_USE_AGENT_STORE"))
    out.agent_store = parse_bool("TORCHELASTIC_USE_AGENT_STORE", *v);
  out.run_id = lookup(env, "TORCHELASTIC_RUN_ID").value_or("");
  out.restart_count = lookup_int(env, "TORCHELASTIC_RESTART_COUNT").value_or(0);
}

void read_mpirun(const Env& env, LaunchEnv& out) {
  out.rank = require_int(env, "OMPI_COMM_WORLD_RANK", "Open MPI's mpirun");
  out.world_size = require_int(env, "OMPI_COMM_WORLD_SIZE", "Open MPI's mpirun");
  out.local_rank = lookup_int(env, "OMPI_COMM_WORLD_LOCAL_RANK").value_or(out.rank);
  out.local_world_size = lookup_int(env, "OMPI_COMM_WORLD_LOCAL_SIZE").value_or(out.world_size);
  out.run_id = lookup(env, "OMPI_MCA_ess_base_jobid").value_or(lookup(env, "PMIX_NAMESPACE").value_or(""));
}

void read_srun(const Env& env, LaunchEnv& out) {
  out.rank = require_int(env, "SLURM_PROCID", "Slurm's srun");
  auto world = lookup_int(env, "SLURM_STEP_NUM_TASKS");
  if (!world) world = lookup_int(env, "SLURM_NTASKS");
  if (!world) world = lookup_int(env, "SLURM_NPROCS");
  if (!world) fail("environment variable SLURM_STEP_NUM_TASKS (or SLURM_NTASKS) is not set under srun");
  out.world_size = *world;
  out.local_rank = lookup_int(env, "SLURM_LOCALID").value_or(0);
  out.local_world_size = out.world_size;
  for (const char* name : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    if (auto list = lookup(env, name)) {
      auto counts = expand_slurm_tasks_per_node(name, *list);
      int node = lookup_int(env, "SLURM_NODEID").value_or(0);
      if (node >= 0 && node < (int)counts.size()) out.local_world_size = counts[node];
      break;
    }
  }
  for (const char* name : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"}) {
    if (auto list = lookup(env, name)) {
      out.master_addr = first_host_of_slurm_nodelist(*list);
      break;
    }
  }
  auto job = lookup(env, "SLURM_JOB_ID").value_or(lookup(env, "SLURM_JOBID").value_or(""));
  auto step = lookup(env, "SLURM_STEP_ID").value_or(lookup(env, "SLURM_STEPID").value_or(""));
  out.run_id = step.empty() ? job : job + "." + step;
}

void validate(const LaunchEnv& e, const std::string& rank_var, const std::string& world_var) {
  if (e.world_size < 1) fail("environment variable ", world_var, "=", e.world_size, " must be at least 1");
  if (e.rank < 0 || e.rank >= e.world_size)
    fail("environment variable ", rank_var, "=", e.rank, " is not a valid rank for ", world_var, "=",
         e.world_size, " (expected 0 <= rank < world size; launcher: ", e.launcher, ")");
  if (e.local_world_size < 1)
    fail("local world size ", e.local_world_size, " must be at least 1 (launcher: ", e.launcher, ")");
  if (e.local_rank < 0 || e.local_rank >= e.local_world_size)
    fail("local rank ", e.local_rank, " is not below the local world size ", e.local_world_size,
         " (launcher: ", e.launcher, ")");
  if (e.master_port < 1 || e.master_port > 65535)
    fail("environment variable MASTER_PORT=", e.master_port, " is not a TCP port (expected 1..65535)");
  if (e.master_addr.empty()) fail("environment variable MASTER_ADDR is empty");
}

}  // namespace

LaunchEnv detect_launch_env(const Env& env) {
  LaunchEnv out;
  std::string rank_var = "RANK", world_var = "WORLD_SIZE";
  const bool torchelastic = lookup(env, "TORCHELASTIC_RUN_ID") || lookup(env, "TORCHELASTIC_USE_AGENT_STORE");
  const bool slurm_step = lookup(env, "SLURM_PROCID") &&
                          (lookup(env, "SLURM_STEP_NUM_TASKS") || lookup(env, "SLURM_STEP_ID") ||
                           lookup(env, "SLURM_STEPID"));
  if (torchelastic) {
    out.launcher = lookup(env, "SHARDLM_LAUNCHER").value_or("") == "shardlm-run" ? "shardlm-run" : "torchrun";
    read_torchrun(env, out);
  } else if (lookup(env, "OMPI_COMM_WORLD_RANK") || lookup(env, "OMPI_COMM_WORLD_SIZE")) {
    out.launcher = "mpirun";
    rank_var = "OMPI_COMM_WORLD_RANK";
    world_var = "OMPI_COMM_WORLD_SIZE";
    read_mpirun(env, out);
  } else if (slurm_step) {
    out.launcher = "srun";
    rank_var = "SLURM_PROCID";
    world_var = "SLURM_STEP_NUM_TASKS";
    read_srun(env, out);
  } else if (lookup(env, "RANK") || lookup(env, "WORLD_SIZE")) {
    // Set by hand (or by a launcher we do not know), the way torch's env:// rendezvous reads them.
    out.rank = require_int(env, "RANK", "a RANK/WORLD_SIZE launch");
    out.world_size = require_int(env, "WORLD_SIZE", "a RANK/WORLD_SIZE launch");
    out.local_rank = lookup_int(env, "LOCAL_RANK").value_or(out.rank);
    out.local_world_size = lookup_int(env, "LOCAL_WORLD_SIZE").value_or(out.world_size);
  }
  if (auto addr = lookup(env, "MASTER_ADDR")) out.master_addr = *addr;
  if (auto port = lookup_int(env, "MASTER_PORT")) out.master_port = *port;
  validate(out, rank_var, world_var);
  return out;
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** p = environ; p && *p; p++) {
    std::string kv = *p;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

LaunchEnv detect_launch_env() { return detect_launch_env(current_environment()); }

std::string describe(const LaunchEnv& env) {
  return str_cat("rank ", env.rank, " of ", env.world_size, " (", env.launcher, ", local rank ", env.local_rank,
                 " of ", env.local_world_size, ", store ", env.master_addr, ":", env.master_port,
                 env.agent_store ? " hosted by the launcher" : "", ")");
}

}  // namespace shardlm
