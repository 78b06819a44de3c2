// Every environment variable shardlm reads, in one table (env_vars.cpp): its name, who sets it, what it does.
// Code reads variables only through env_value(), which refuses names missing from the table, so the table
// (printed by `shardlm env`, listed in the README) cannot fall behind the code.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace shardlm {

struct EnvVarInfo {
  const char* name;
  const char* group;    // "shardlm" (yours to set), "launcher" (set by torchrun/mpirun/srun), "system"
  const char* meaning;
};

const std::vector<EnvVarInfo>& env_vars();
bool is_registered_env_var(const std::string& name);

// The variable's value, or nullopt when unset or empty. Error for a name missing from the table.
std::optional<std::string> env_value(const std::string& name);
// The same check for code that reads a captured environment map (launch_env, parallel_state).
void require_registered_env_var(const std::string& name);

}  // namespace shardlm
