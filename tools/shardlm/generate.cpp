// `shardlm generate`: runs prompts through the engine, prints them as vLLM's example does, optionally
// writes one RequestOutput per line as JSON. Under data parallelism every replica runs every given prompt
// (a program splits prompts by LLM::data_parallel_rank()); `{rank}` in --output-jsonl is the global rank.
#include <charconv>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "output_file.h"
#include "output_format.h"
#include "commands.h"
#include "core/error.h"
#include "distributed/launch_env.h"
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
  int64_t sampling_seed = -1;
  int max_tokens = 16;
  std::optional<int> logprobs, prompt_logprobs, truncate_prompt_tokens;
  std::vector<std::string> stop, logit_bias, bad_words;
  std::string stop_token_ids, allowed_token_ids;
};

// A token id is an integer in [0, 2^31 - 1]; anything else (2^32 + 2, "2.9", "0x10") is refused, never wrapped.
constexpr const char* kTokenIdRange = "an integer token id in [0, 2147483647]";

std::vector<int32_t> parse_ids(const std::string& s, const std::string& what) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    int32_t v = 0;
    const char* end = item.data() + item.size();
    auto [ptr, ec] = std::from_chars(item.data(), end, v);
    if (ec != std::errc() || ptr != end || v < 0)
      throw std::invalid_argument(what + ": '" + item + "' is not " + kTokenIdRange);
    ids.push_back(v);
  }
  return ids;
}

// JSON prompt_token_ids: a list of integer numbers (not 2.9, not true) that fit a token id.
std::vector<int32_t> json_token_ids(const nlohmann::json& v, const std::string& where) {
  if (!v.is_array()) fail(where, ": prompt_token_ids must be a list of integers, got ", json_excerpt(v));
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const nlohmann::json& e = v[i];
    const bool fits = e.is_number_unsigned() ? e.get<uint64_t>() <= (uint64_t)INT32_MAX
                      : e.is_number_integer() ? e.get<int64_t>() >= 0 && e.get<int64_t>() <= INT32_MAX
                                              : false;
    if (!fits) fail(where, ": prompt_token_ids[", i, "] is ", json_excerpt(e), ", expected ", kTokenIdRange);
    ids.push_back((int32_t)e.get<int64_t>());
  }
  return ids;
}

// A JSONL prompt's "priority": a JSON integer that fits an int (vLLM's request priority; lower runs earlier
// under --scheduling-policy priority, ignored under fcfs).
int json_priority(const nlohmann::json& v, const std::string& where) {
  const bool fits = v.is_number_integer() && (v.is_number_unsigned() ? v.get<uint64_t>() <= (uint64_t)INT32_MAX
                                                                      : v.get<int64_t>() >= INT32_MIN &&
                                                                            v.get<int64_t>() <= INT32_MAX);
  if (!fits) fail(where, ": priority is ", json_excerpt(v), ", expected an integer in [-2147483648, 2147483647]");
  return (int)v.get<int64_t>();
}

// The prompts of a .txt file (one a line) or a .jsonl file ({"prompt": ...} or {"prompt_token_ids": [...]}, each
// with an optional "priority"), appended to `prompts` and their priorities to `priorities`.
void read_prompts_file(const std::string& path, std::vector<Prompt>& prompts, std::vector<int>& priorities) {
  std::ifstream f(path);
  if (!f) fail("cannot open prompts file '", path, "'");
  std::string line;
  const bool jsonl = path.size() > 6 && path.substr(path.size() - 6) == ".jsonl";
  int lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (!jsonl) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) {
        prompts.emplace_back(line);
        priorities.push_back(0);
      }
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = parse_json_text(line.data(), line.size(), str_cat(path, ":", lineno));
    if (j.is_object() && j.contains("prompt_token_ids")) {
      prompts.push_back(Prompt::from_token_ids(json_token_ids(j["prompt_token_ids"], str_cat(path, ":", lineno))));
    } else if (j.is_object() && j.contains("prompt") && j["prompt"].is_string()) {
      prompts.emplace_back(j["prompt"].get<std::string>());
    } else {
      fail(path, ":", lineno, ": expected {\"prompt\": \"...\"} or {\"prompt_token_ids\": [...]}");
    }
    priorities.push_back(j.contains("priority") ? json_priority(j["priority"], str_cat(path, ":", lineno)) : 0);
  }
}

int run_generate(GenerateFlags& g) {
  SamplingParams sp = g.sp;
  sp.max_tokens = g.max_tokens;
  if (g.sampling_seed >= 0) sp.seed = g.sampling_seed;
  sp.logprobs = g.logprobs;  // -1: the whole vocabulary (with --max-logprobs -1); other negatives are refused
  sp.stop = g.stop;
  if (!g.stop_token_ids.empty()) sp.stop_token_ids = parse_ids(g.stop_token_ids, "--stop-token-ids");
  sp.prompt_logprobs = g.prompt_logprobs;
  sp.truncate_prompt_tokens = g.truncate_prompt_tokens;
  sp.bad_words = g.bad_words;
  if (!g.allowed_token_ids.empty()) sp.allowed_token_ids = parse_ids(g.allowed_token_ids, "--allowed-token-ids");
  for (const std::string& entry : g.logit_bias) {  // ID=BIAS
    const size_t eq = entry.find('=');
    const std::vector<int32_t> id = eq == std::string::npos ? std::vector<int32_t>{} : parse_ids(entry.substr(0, eq), "--logit-bias");
    float bias = 0.0f;
    const char* begin = entry.data() + (eq == std::string::npos ? entry.size() : eq + 1);
    const char* end = entry.data() + entry.size();
    const auto res = std::from_chars(begin, end, bias);
    if (id.size() != 1 || res.ec != std::errc() || res.ptr != end)
      throw std::invalid_argument("--logit-bias: '" + entry + "' is not TOKEN_ID=BIAS (e.g. 50256=-100)");
    sp.logit_bias[id[0]] = bias;
  }
  sp.validate();

  std::vector<Prompt> prompts;
  for (const auto& p : g.prompts) prompts.emplace_back(p);
  for (const auto& ids : g.prompt_token_ids) prompts.push_back(Prompt::from_token_ids(parse_ids(ids, "--prompt-token-ids")));
  std::vector<int> priorities(prompts.size(), 0);  // --prompt and --prompt-token-ids: 0
  if (!g.prompts_file.empty()) read_prompts_file(g.prompts_file, prompts, priorities);
  if (prompts.empty()) throw std::invalid_argument("no prompts: give --prompt, --prompt-token-ids or --prompts-file");

  // Opened before the model loads, so an unwritable path fails in a second, not after the whole generation.
  // The launcher's rank is the LLM's global rank (the world group is ordered by it).
  OutputFile jsonl;
  if (!g.output_jsonl.empty()) jsonl = OutputFile(substitute_rank(g.output_jsonl, detect_launch_env().rank), "--output-jsonl");

  LLM llm(g.engine.args);
  GenerateHooks hooks;
  hooks.progress_bar = !g.no_progress;
  std::vector<RequestOutput> outs =
      llm.generate(prompts, std::vector<SamplingParams>(prompts.size(), sp), hooks, priorities);
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
  // Standard output is flushed and checked by main() on the way out.
  SHARDLM_CHECK(!jsonl.is_open() || jsonl.path() == substitute_rank(g.output_jsonl, llm.rank()));
  for (const auto& o : outs) jsonl.write(request_output_to_json(o) + "\n");
  jsonl.close();
  return failed ? 1 : 0;
}

}  // namespace

std::function<int()> add_generate_command(CLI::App& app) {
  auto g = std::make_shared<GenerateFlags>();
  CLI::App* sub = app.add_subcommand("generate", "generate text for prompts (vLLM's LLM.generate)");
  add_engine_flags(sub, g->engine);
  sub->add_option("--prompt,-p", g->prompts, "a prompt (repeatable)");
  sub->add_option("--prompt-token-ids", g->prompt_token_ids, "a prompt as comma-separated token ids (repeatable)");
  sub->add_option("--prompts-file", g->prompts_file, ".txt (a prompt a line) or .jsonl ({\"prompt\"} / {\"prompt_token_ids\"}, optional \"priority\")");
  sub->add_option("--temperature", g->sp.temperature, "0 = greedy")->capture_default_str();
  sub->add_option("--top-p", g->sp.top_p)->capture_default_str();
  sub->add_option("--top-k", g->sp.top_k, "0 or -1 = off")->capture_default_str();
  sub->add_option("--min-p", g->sp.min_p)->capture_default_str();
  // --seed is the engine's (vLLM's meaning, in the engine flags); this is SamplingParams.seed.
  sub->add_option("--sampling-seed", g->sampling_seed, "every request's own sampling seed (-1: none; default: from --seed)")
      ->check(integer_at_least<int64_t>(-1));
  sub->add_option("--max-tokens", g->max_tokens)->capture_default_str();
  sub->add_option("--min-tokens", g->sp.min_tokens)->capture_default_str();
  sub->add_option("--stop", g->stop, "stop string (repeatable)");
  sub->add_option("--stop-token-ids", g->stop_token_ids, "comma-separated token ids");
  sub->add_flag("--ignore-eos", g->sp.ignore_eos);
  sub->add_option("--logprobs", g->logprobs,
                  "return the top N log-probabilities per token (at most --max-logprobs; -1: all of them)");
  sub->add_option("--prompt-logprobs", g->prompt_logprobs,
                  "return each prompt token's log-probability and the top N (at most --max-logprobs; -1: all)");
  sub->add_option("--logit-bias", g->logit_bias, "TOKEN_ID=BIAS added to that token's logit (repeatable)");
  sub->add_option("--allowed-token-ids", g->allowed_token_ids, "comma-separated token ids: only these are sampled");
  sub->add_option("--bad-words", g->bad_words, "a word the output may not complete (repeatable)");
  sub->add_option("--truncate-prompt-tokens", g->truncate_prompt_tokens, "keep only the last N prompt tokens (-1: max_model_len)");
  sub->add_flag("--detokenize,!--no-detokenize", g->sp.detokenize, "--no-detokenize: token ids only, no text");
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
