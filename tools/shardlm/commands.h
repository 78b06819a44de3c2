// The subcommands of the `shardlm` program.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace shardlm::cli {

// Each registers its subcommand and returns the function that runs it (exit code).
std::function<int()> add_generate_command(CLI::App& app);
std::function<int()> add_make_model_command(CLI::App& app);
std::function<int()> add_bench_command(CLI::App& app);
std::function<int()> add_env_command(CLI::App& app);
std::function<int()> add_serve_command(CLI::App& app);
std::function<int()> add_worker_command(CLI::App& app);  // hidden: a self-launched rank
// `bench serve`, a subcommand of `bench`.
std::function<int()> add_bench_serve(CLI::App* bench);

}  // namespace shardlm::cli
