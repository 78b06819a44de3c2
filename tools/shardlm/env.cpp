// `shardlm env`: every environment variable shardlm reads (src/core/env_vars.cpp), with its value here.
#include <cstdio>
#include <string>

#include "commands.h"
#include "core/env_vars.h"

namespace shardlm::cli {

std::function<int()> add_env_command(CLI::App& app) {
  auto group = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("env", "list the environment variables shardlm reads, with their values");
  sub->add_option("--group", *group, "only one group: shardlm, launcher or system");
  return [group] {
    for (const EnvVarInfo& v : env_vars()) {
      if (!group->empty() && *group != v.group) continue;
      const std::optional<std::string> value = env_value(v.name);
      std::printf("%-30s %-9s %s\n%30s %9s   %s\n", v.name, v.group, v.meaning, "", "",
                  value ? ("= " + *value).c_str() : "(unset)");
    }
    return 0;
  };
}

}  // namespace shardlm::cli
