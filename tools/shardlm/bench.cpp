// `shardlm bench throughput|latency`: vLLM's offline benchmarks on random-token prompts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/output_file.h"
#include "commands.h"
#include "core/error.h"
#include "distributed/launch_env.h"
#include "engine/llm_engine.h"
#include "engine_options.h"
#include "ops/op_profile.h"

namespace shardlm::cli {

namespace {

struct BenchFlags {
  EngineFlags engine;
  int num_prompts = 100, input_len = 128, output_len = 128, batch_size = 8, num_iters = 5, num_iters_warmup = 1;
  uint64_t dataset_seed = 0;
  std::string output_json;
};

// Random token ids in [0, vocab) avoiding the first few ids (specials), deterministic by seed.
std::vector<Prompt> random_prompts(int count, int len, int64_t vocab, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<Prompt> out;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> ids((size_t)len);
    for (auto& id : ids) id = (int32_t)(4 + gen() % (uint64_t)std::max<int64_t>(1, vocab - 4));
    out.push_back(Prompt::from_token_ids(std::move(ids)));
  }
  return out;
}

SamplingParams fixed_length(int output_len) {
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.top_p = 1.0f;
  sp.ignore_eos = true;
  sp.max_tokens = output_len;
  return sp;
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
  LLM llm(b.engine.resolve());
  const int64_t vocab = llm.vocab_size();
  auto prompts = random_prompts(b.num_prompts, b.input_len, vocab, b.dataset_seed);
  op_profile::reset();
  auto t0 = std::chrono::steady_clock::now();
  auto outs = llm.generate(prompts, fixed_length(b.output_len), false);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t in_tok = 0, out_tok = 0;
  for (const auto& o : outs) {
    in_tok += (int64_t)o.prompt_token_ids.size();
    for (const auto& c : o.outputs) out_tok += (int64_t)c.token_ids.size();
  }
  EngineStats st = llm.stats();
  if (llm.rank() == 0) {
    std::printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n", outs.size() / secs,
                (in_tok + out_tok) / secs, out_tok / secs);
    std::printf("Total num prompt tokens: %lld\nTotal num output tokens: %lld\nElapsed: %.3f s\n", (long long)in_tok,
                (long long)out_tok, secs);
    std::printf("Engine steps: %lld, preemptions: %lld, prefix-cache hit rate: %.1f%%\n", (long long)st.num_steps,
                (long long)st.num_preemptions, 100 * st.prefix_cache_hit_rate());
    std::printf("%s\n", graph_summary(llm).c_str());
  }
  write_json(json_out,
             {{"elapsed_time", secs}, {"num_requests", outs.size()}, {"total_num_tokens", in_tok + out_tok},
              {"requests_per_second", outs.size() / secs}, {"tokens_per_second", (in_tok + out_tok) / secs},
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
  LLM llm(b.engine.resolve());
  const int64_t vocab = llm.vocab_size();
  auto prompts = random_prompts(b.batch_size, b.input_len, vocab, b.dataset_seed);
  SamplingParams sp = fixed_length(b.output_len);
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
    std::printf("Per output token (median): %.3f ms\n", 1000 * percentile(lat, 50) / b.output_len);
    std::printf("%s\n", graph_summary(llm).c_str());
  }
  for (int p : {10, 25, 50, 75, 90, 99}) pj[std::to_string(p)] = percentile(lat, p);
  write_json(json_out, {{"avg_latency", avg}, {"latencies", lat}, {"percentiles", pj}});
  op_profile::write_report();
  return 0;
}

void add_common(CLI::App* s, BenchFlags& b) {
  add_engine_flags(s, b.engine);
  s->add_option("--input-len", b.input_len)->capture_default_str();
  s->add_option("--output-len", b.output_len)->capture_default_str();
  s->add_option("--seed", b.dataset_seed, "random prompt seed")
      ->capture_default_str()
      ->check(integer_in<uint64_t>(0, std::numeric_limits<uint64_t>::max()));
  s->add_option("--output-json", b.output_json, "write the results as JSON (rank 0)");
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
  auto b = std::make_shared<BenchFlags>();
  CLI::App* sub = app.add_subcommand("bench", "benchmarks: throughput, latency (offline), serve (against a server)");
  sub->require_subcommand(1);
  CLI::App* tp = sub->add_subcommand("throughput", "requests/s and tokens/s over random-token prompts");
  add_common(tp, *b);
  tp->add_option("--num-prompts", b->num_prompts)->capture_default_str();
  CLI::App* lat = sub->add_subcommand("latency", "latency of generating one batch");
  add_common(lat, *b);
  lat->add_option("--batch-size", b->batch_size)->capture_default_str();
  lat->add_option("--num-iters", b->num_iters)->capture_default_str();
  lat->add_option("--num-iters-warmup", b->num_iters_warmup)->capture_default_str();
  std::function<int()> serve = add_bench_serve(sub);
  return [b, tp, lat, serve] {
    if (tp->parsed()) return run_throughput(*b);
    if (lat->parsed()) return run_latency(*b);
    return serve();
  };
}

}  // namespace shardlm::cli
