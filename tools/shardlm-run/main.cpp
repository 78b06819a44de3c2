// shardlm-run: a torchrun-compatible launcher for shardlm programs (see src/distributed/launcher.h).
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "distributed/launcher.h"
#include "distributed/launcher_args.h"

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    shardlm::LauncherArgs parsed = shardlm::parse_launcher_args(args);
    if (parsed.help) {
      std::cout << shardlm::launcher_usage();
      return 0;
    }
    return shardlm::run_launcher(parsed);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
}
