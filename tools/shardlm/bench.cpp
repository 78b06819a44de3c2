// `shardlm bench throughput|latency`: vLLM's offline benchmarks on its random dataset (random-token prompts),
// with vLLM's flag names, defaults and result lines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "output_file.h"
#include "commands.h"
#include "core/error.h"
#include "distributed/launch_env.h"
#include "engine/llm_engine.h"
#include "engine_options.h"
#include "ops/op_profile.h"
#include "random_dataset.h"

namespace shardlm::cli {

namespace {

// One offline benchmark's flags: vLLM's `bench throughput` / `bench latency` names and defaults.
struct BenchFlags {
  EngineFlags engine;
  // vLLM's --input-len / --output-len; for throughput also spelt --random-input-len / --random-output-len (the
  // random dataset's own names, as `vllm bench serve` has them). Unset: the defaults below.
  std::optional<int> input_len, output_len, random_input_len, random_output_len;
  int default_input_len = 0, default_output_len = 128;
  double random_range_ratio = 0.0;
  int prefix_len = 0;
  std::string dataset_name = "random", dataset_path;
  std::optional<uint64_t> dataset_seed;  // unset: the engine's --seed, as vLLM seeds its datasets with --seed
  int n = 1, num_prompts = 1000, batch_size = 8, num_iters = 30, num_iters_warmup = 10;
  bool disable_detokenize = false;
  std::string output_json;
};

// --input-len and --random-input-len name one length: giving both with different values is an error.
int one_length(const std::optional<int>& plain, const std::optional<int>& random, int fallback, const char* what) {
  if (plain && random && *plain != *random)
    throw std::invalid_argument(str_cat("--", what, " (", *plain, ") and --random-", what, " (", *random,
                                        ") disagree: give one of them"));
  return plain ? *plain : random ? *random : fallback;
}

RandomDataset dataset_of(const BenchFlags& b, int num_requests) {
  if (b.dataset_name != "random")
    throw std::invalid_argument("--dataset-name " + b.dataset_name +
                                ": only the random dataset is supported offline (--dataset-name random)");
  if (!b.dataset_path.empty())
    throw std::invalid_argument("--dataset-path: datasets from files are not supported; the benchmarks use "
                                "--dataset-name random");
  RandomDataset d;
  d.num_requests = num_requests;
  d.input_len = one_length(b.input_len, b.random_input_len, b.default_input_len, "input-len");
  d.output_len = one_length(b.output_len, b.random_output_len, b.default_output_len, "output-len");
  d.range_ratio = b.random_range_ratio;
  d.prefix_len = b.prefix_len;
  d.seed = b.dataset_seed ? *b.dataset_seed : (uint64_t)b.engine.args.seed;
  return d;
}

SamplingParams fixed_length(int output_len, int n, bool detokenize) {
  SamplingParams sp;
  sp.n = n;
  sp.temperature = 1.0f;
  sp.top_p = 1.0f;
  sp.ignore_eos = true;
  sp.max_tokens = output_len;
  sp.detokenize = detokenize;
  return sp;
}

// vLLM's check before a benchmark: every request's prompt and output fit max_model_len.
void check_fits(const std::vector<BenchRequest>& requests, int max_model_len) {
  for (const BenchRequest& r : requests)
    if (r.prompt_len + r.output_len > max_model_len)
      throw std::invalid_argument(str_cat("a request of ", r.prompt_len, " prompt and ", r.output_len,
                                          " output tokens does not fit max_model_len ", max_model_len,
                                          ": lower the lengths or raise --max-model-len"));
}

// Whether decode steps replayed CUDA graphs, and which batch sizes were captured.
std::string graph_summary(LLM& llm) {
  const DecodeGraphs* g = llm.engine().runner().decode_graphs();
  if (!g) return "CUDA graphs: off";
  std::string sizes;
  for (int32_t s : g->captured_sizes()) sizes += (sizes.empty() ? "" : " ") + std::to_string(s);
  return str_cat("CUDA graphs: ", g->replays(), " decode steps replayed; batch sizes captured: ",
                 sizes.empty() ? "none" : sizes);
}

// --output-json, opened on rank 0 before the model loads (an unwritable path fails at once); other ranks
// write nothing.
OutputFile open_output_json(const std::string& path) {
  if (path.empty() || detect_launch_env().rank != 0) return {};
  return OutputFile(path, "--output-json");
}

void write_json(OutputFile& out, const nlohmann::json& j) {
  out.write(j.dump(2) + "\n");
  out.close();
}

int run_throughput(BenchFlags& b) {
  OutputFile json_out = open_output_json(b.output_json);
  const RandomDataset dataset = dataset_of(b, b.num_prompts);
  LLM llm(b.engine.args);
  const std::vector<BenchRequest> requests = sample_random_requests(dataset, llm.vocab_size());
  check_fits(requests, llm.max_model_len());
  std::vector<Prompt> prompts;
  std::vector<SamplingParams> params;
  for (const BenchRequest& r : requests) {
    prompts.push_back(r.prompt);
    params.push_back(fixed_length(r.output_len, b.n, !b.disable_detokenize));
  }
  op_profile::reset();
  auto t0 = std::chrono::steady_clock::now();
  auto outs = llm.generate(prompts, params, false);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t in_tok = 0, out_tok = 0;
  for (const auto& o : outs) {
    in_tok += (int64_t)o.prompt_token_ids.size();
    for (const auto& c : o.outputs) out_tok += (int64_t)c.token_ids.size();
  }
  EngineStats st = llm.stats();
  if (llm.rank() == 0) {
    // vLLM's three lines first (scripts read them), then shardlm's.
    std::printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n", outs.size() / secs,
                (in_tok + out_tok) / secs, out_tok / secs);
    std::printf("Total num prompt tokens:  %lld\nTotal num output tokens:  %lld\nElapsed: %.3f s\n",
                (long long)in_tok, (long long)out_tok, secs);
    std::printf("Engine steps: %lld, preemptions: %lld, prefix-cache hit rate: %.1f%%\n", (long long)st.num_steps,
                (long long)st.num_preemptions, 100 * st.prefix_cache_hit_rate());
    std::printf("%s\n", graph_summary(llm).c_str());
  }
  write_json(json_out,
             {{"elapsed_time", secs}, {"num_requests", outs.size()}, {"total_num_tokens", in_tok + out_tok},
              {"requests_per_second", outs.size() / secs}, {"tokens_per_second", (in_tok + out_tok) / secs},
              {"total_prompt_tokens", in_tok}, {"total_output_tokens", out_tok},
              {"output_tokens_per_second", out_tok / secs}, {"num_preemptions", st.num_preemptions},
              {"max_num_seqs", llm.engine().args().max_num_seqs}});
  op_profile::write_report();
  return 0;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  double idx = p / 100.0 * (double)(v.size() - 1);
  size_t lo = (size_t)idx, hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - (double)lo);
}

int run_latency(BenchFlags& b) {
  if (b.num_iters < 1) throw std::invalid_argument("--num-iters must be at least 1");
  OutputFile json_out = open_output_json(b.output_json);
  const RandomDataset dataset = dataset_of(b, b.batch_size);
  LLM llm(b.engine.args);
  const std::vector<BenchRequest> requests = sample_random_requests(dataset, llm.vocab_size());
  check_fits(requests, llm.max_model_len());
  std::vector<Prompt> prompts;
  for (const BenchRequest& r : requests) prompts.push_back(r.prompt);
  SamplingParams sp = fixed_length(dataset.output_len, b.n, !b.disable_detokenize);
  if (llm.rank() == 0) std::printf("Warming up...\n");
  for (int i = 0; i < b.num_iters_warmup; ++i) llm.generate(prompts, sp, false);
  std::vector<double> lat;
  op_profile::reset();
  for (int i = 0; i < b.num_iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    llm.generate(prompts, sp, false);
    lat.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  double avg = 0;
  for (double l : lat) avg += l;
  avg /= (double)lat.size();
  nlohmann::json pj;
  if (llm.rank() == 0) {
    std::printf("Avg latency: %.6f seconds\n", avg);
    for (int p : {10, 25, 50, 75, 90, 99}) std::printf("%d%% percentile latency: %.6f seconds\n", p, percentile(lat, p));
    std::printf("Per output token (median): %.3f ms\n", 1000 * percentile(lat, 50) / dataset.output_len);
    std::printf("Prefix caching: %s, hit rate %.1f%%\n", llm.engine().args().enable_prefix_caching ? "on" : "off",
                100 * llm.stats().prefix_cache_hit_rate());
    std::printf("%s\n", graph_summary(llm).c_str());
  }
  for (int p : {10, 25, 50, 75, 90, 99}) pj[std::to_string(p)] = percentile(lat, p);
  write_json(json_out, {{"avg_latency", avg}, {"latencies", lat}, {"percentiles", pj}});
  op_profile::write_report();
  return 0;
}

// Flags both benchmarks have (vLLM's names).
void add_common(CLI::App* s, BenchFlags& b) {
  add_engine_flags(s, b.engine);
  s->add_option("--input-len", b.input_len, str_cat("prompt tokens per request (default ", b.default_input_len, ")"))
      ->check(integer_at_least(0));
  s->add_option("--output-len", b.output_len, str_cat("tokens generated per request (default ", b.default_output_len, ")"))
      ->check(integer_at_least(1));
  s->add_option("--n", b.n, "sequences generated per prompt")->capture_default_str()->check(integer_at_least(1));
  s->add_flag("--disable-detokenize", b.disable_detokenize, "no detokenization (not in the measurement)");
  s->add_option("--dataset-seed", b.dataset_seed, "seed of the random prompts (default: --seed, as vLLM)")
      ->check(integer_in<uint64_t>(0, std::numeric_limits<uint64_t>::max()));
  s->add_option("--output-json", b.output_json, "write the results as JSON (rank 0)");
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("bench", "benchmarks: throughput, latency (offline), serve (against a server)");
  sub->require_subcommand(1);

  auto t = std::make_shared<BenchFlags>();
  t->default_input_len = 1024;  // vLLM's random dataset's default
  CLI::App* tp = sub->add_subcommand("throughput", "requests/s and tokens/s over vLLM's random dataset");
  add_common(tp, *t);
  tp->add_option("--num-prompts", t->num_prompts)->capture_default_str()->check(integer_at_least(1));
  tp->add_option("--dataset-name", t->dataset_name, "only random offline")->capture_default_str();
  tp->add_option("--dataset-path", t->dataset_path, "not supported: prompts come from --dataset-name random");
  tp->add_option("--random-input-len", t->random_input_len, "the same as --input-len")->check(integer_at_least(0));
  tp->add_option("--random-output-len", t->random_output_len, "the same as --output-len")->check(integer_at_least(1));
  tp->add_option("--random-range-ratio", t->random_range_ratio,
                 "lengths drawn uniformly from [len * (1 - r), len * (1 + r)], r in [0, 1)")
      ->capture_default_str();
  tp->add_option("--prefix-len,--random-prefix-len", t->prefix_len, "random tokens shared by every prompt, before it")
      ->capture_default_str()
      ->check(integer_at_least(0));

  auto l = std::make_shared<BenchFlags>();
  l->default_input_len = 32;
  l->engine.args.enable_prefix_caching = false;  // vLLM's latency benchmark: repeats of one batch would hit
  CLI::App* lat = sub->add_subcommand("latency", "latency of generating one batch");
  add_common(lat, *l);
  lat->get_option("--enable-prefix-caching")->description("reuse KV blocks of shared prompt prefixes (default off here, as vLLM's)");
  lat->add_option("--batch-size", l->batch_size)->capture_default_str()->check(integer_at_least(1));
  lat->add_option("--num-iters", l->num_iters)->capture_default_str();
  lat->add_option("--num-iters-warmup", l->num_iters_warmup)->capture_default_str()->check(integer_at_least(0));
  std::function<int()> serve = add_bench_serve(sub);
  return [t, l, tp, lat, serve] {
    if (tp->parsed()) return run_throughput(*t);
    if (lat->parsed()) return run_latency(*l);
    return serve();
  };
}

}  // namespace shardlm::cli
