// shardlm: the command line. `shardlm generate|make-model|bench ...`; errors (a failed write to standard output
// included) print one line and exit 1.
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "output_file.h"
#include "commands.h"
#include "core/error.h"
#include "distributed/error_file.h"
#include "shardlm/version.h"
#include "vllm_spellings.h"

int main(int argc, char** argv) {
  CLI::App app{"shardlm: LLM inference with tensor parallelism across launcher-started processes"};
  // The version of the libshardlm.so this program loaded, which is the one Python's shardlm.__version__ names.
  app.set_version_flag("--version", shardlm::version(), "Print the version and exit");
  app.require_subcommand(1);
  std::map<CLI::App*, std::function<int()>> runners;
  using namespace shardlm::cli;
  for (auto add : {add_generate_command, add_make_model_command, add_bench_command, add_env_command, add_serve_command,
                   add_worker_command}) {
    size_t before = app.get_subcommands({}).size();
    auto run = add(app);
    runners[app.get_subcommands({})[before]] = run;
  }
  const std::vector<std::string> args = canonical_flag_spellings(argc, argv);
  std::vector<const char*> arg_ptrs;
  for (const std::string& a : args) arg_ptrs.push_back(a.c_str());
  try {
    app.parse((int)arg_ptrs.size(), arg_ptrs.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners) {
      if (!sub->parsed()) continue;
      const int code = run();
      // Results printed to a full disk or /dev/full are lost: an error, not exit code 0.
      shardlm::flush_stdout_or_fail();
      return code;
    }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "shardlm: invalid argument: %s\n", e.what());
    shardlm::write_torchelastic_error_file(std::string("invalid argument: ") + e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shardlm: error: %s\n", e.what());
    shardlm::write_torchelastic_error_file(e.what());
    return 1;
  }
  return 0;
}
