// `shardlm generate`: runs prompts through the engine, prints them as vLLM's example does, optionally
// writes one RequestOutput per line as JSON. Under data parallelism every replica runs every given prompt
// (a program splits prompts by LLM::data_parallel_rank()); `{rank}` in --output-jsonl is the global rank.
#include <fstream>
#include <optional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/output_format.h"
#include "commands.h"
#include "core/error.h"
#include "engine_options.h"
#include "io/json_file.h"

namespace shardlm::cli {

namespace {

struct GenerateFlags {
  EngineFlags engine;
  std::vector<std::string> prompts;
  std::vector<std::string> prompt_token_ids;
  std::string prompts_file, output_jsonl;
  bool no_progress = false;
  SamplingParams sp;
  int64_t seed = -1;
  int max_tokens = 16;
  std::optional<int> logprobs;
  std::vector<std::string> stop;
  std::string stop_token_ids;
};

std::vector<int32_t> parse_ids(const std::string& s, const std::string& what) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      size_t used = 0;
      long v = std::stol(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      ids.push_back((int32_t)v);
    } catch (const std::exception&) {
      throw std::invalid_argument(what + ": '" + item + "' is not an integer token id");
    }
  }
  return ids;
}

std::vector<Prompt> read_prompts_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail("cannot open prompts file '", path, "'");
  std::vector<Prompt> prompts;
  std::string line;
  const bool jsonl = path.size() > 6 && path.substr(path.size() - 6) == ".jsonl";
  int lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (!jsonl) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) prompts.emplace_back(line);
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = parse_json_text(line.data(), line.size(), str_cat(path, ":", lineno));
    if (j.contains("prompt_token_ids")) {
      try {
        prompts.push_back(Prompt::from_token_ids(j["prompt_token_ids"].get<std::vector<int32_t>>()));
      } catch (const std::exception&) {
        fail(path, ":", lineno, ": prompt_token_ids must be a list of integers");
      }
    } else if (j.contains("prompt") && j["prompt"].is_string()) {
      prompts.emplace_back(j["prompt"].get<std::string>());
    } else {
      fail(path, ":", lineno, ": expected {\"prompt\": \"...\"} or {\"prompt_token_ids\": [...]}");
    }
  }
  return prompts;
}

int run_generate(GenerateFlags& g) {
  SamplingParams sp = g.sp;
  sp.max_tokens = g.max_tokens;
  if (g.seed >= 0) sp.seed = g.seed;
  sp.logprobs = g.logprobs;  // -1: the whole vocabulary (with --max-logprobs -1); other negatives are refused
  sp.stop = g.stop;
  if (!g.stop_token_ids.empty()) sp.stop_token_ids = parse_ids(g.stop_token_ids, "--stop-token-ids");
  sp.validate();

  std::vector<Prompt> prompts;
  for (const auto& p : g.prompts) prompts.emplace_back(p);
  for (const auto& ids : g.prompt_token_ids) prompts.push_back(Prompt::from_token_ids(parse_ids(ids, "--prompt-token-ids")));
  if (!g.prompts_file.empty())
    for (auto& p : read_prompts_file(g.prompts_file)) prompts.push_back(std::move(p));
  if (prompts.empty()) throw std::invalid_argument("no prompts: give --prompt, --prompt-token-ids or --prompts-file");

  LLM llm(g.engine.resolve());
  std::vector<RequestOutput> outs = llm.generate(prompts, sp, !g.no_progress);
  int failed = 0;
  for (const auto& o : outs) {
    if (o.error) {
      std::cerr << "shardlm: request " << o.request_id << " failed: " << *o.error << "\n";
      ++failed;
      continue;
    }
    for (const auto& c : o.outputs) {
      std::string prompt_text = o.prompt.empty() ? llm.decode(o.prompt_token_ids, false) : o.prompt;
      std::cout << "Prompt: " << python_repr(prompt_text) << ", Generated text: " << python_repr(c.text) << "\n";
    }
  }
  std::cout.flush();
  if (!g.output_jsonl.empty()) {
    std::string path = substitute_rank(g.output_jsonl, llm.rank());
    std::ofstream f(path);
    if (!f) fail("cannot write '", path, "'");
    for (const auto& o : outs) f << request_output_to_json(o) << "\n";
  }
  return failed ? 1 : 0;
}

}  // namespace

std::function<int()> add_generate_command(CLI::App& app) {
  auto g = std::make_shared<GenerateFlags>();
  CLI::App* sub = app.add_subcommand("generate", "generate text for prompts (vLLM's LLM.generate)");
  add_engine_flags(sub, g->engine);
  sub->add_option("--prompt,-p", g->prompts, "a prompt (repeatable)");
  sub->add_option("--prompt-token-ids", g->prompt_token_ids, "a prompt as comma-separated token ids (repeatable)");
  sub->add_option("--prompts-file", g->prompts_file, ".txt (a prompt a line) or .jsonl ({\"prompt\"} / {\"prompt_token_ids\"})");
  sub->add_option("--temperature", g->sp.temperature, "0 = greedy")->capture_default_str();
  sub->add_option("--top-p", g->sp.top_p)->capture_default_str();
  sub->add_option("--top-k", g->sp.top_k, "0 or -1 = off")->capture_default_str();
  sub->add_option("--min-p", g->sp.min_p)->capture_default_str();
  sub->add_option("--seed", g->seed, "per-request sampling seed");
  sub->add_option("--max-tokens", g->max_tokens)->capture_default_str();
  sub->add_option("--min-tokens", g->sp.min_tokens)->capture_default_str();
  sub->add_option("--stop", g->stop, "stop string (repeatable)");
  sub->add_option("--stop-token-ids", g->stop_token_ids, "comma-separated token ids");
  sub->add_flag("--ignore-eos", g->sp.ignore_eos);
  sub->add_option("--logprobs", g->logprobs,
                  "return the top N log-probabilities per token (at most --max-logprobs; -1: all of them)");
  sub->add_option("--n", g->sp.n, "samples per prompt")->capture_default_str();
  sub->add_option("--presence-penalty", g->sp.presence_penalty)->capture_default_str();
  sub->add_option("--frequency-penalty", g->sp.frequency_penalty)->capture_default_str();
  sub->add_option("--repetition-penalty", g->sp.repetition_penalty)->capture_default_str();
  sub->add_flag("--skip-special-tokens,!--no-skip-special-tokens", g->sp.skip_special_tokens);
  sub->add_option("--output-jsonl", g->output_jsonl, "write RequestOutputs as JSON lines; {rank} is replaced");
  sub->add_flag("--no-progress", g->no_progress, "no progress bar");
  return [g] { return run_generate(*g); };
}

}  // namespace shardlm::cli
