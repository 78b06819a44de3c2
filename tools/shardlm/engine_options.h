// Command-line flags for EngineArgs, shared by `generate` and `bench` (vLLM's engine flag names).
#pragma once
#include <CLI/CLI.hpp>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "shardlm/llm.h"

namespace shardlm::cli {

// CLI11 (2.1) converts a number too large for the option's type to the type's limit (`--seed 2^64` became
// INT64_MAX), an unsigned option takes "-1" as 2^64 - 1, and "010" is octal. These validators read the text
// itself: the whole of it must be one decimal integer in [min, max], which they hand on in canonical form.
// CLI11 prefixes the message with the flag's name.
template <typename T>
CLI::Validator integer_in(T min, T max) {
  const std::string range = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        T value{};
        const char* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max)
          return "expected " + range + ", got '" + text + "'";
        text = std::to_string(value);  // "010" -> "10": CLI11's own conversion would read octal
        return {};
      },
      range);
}
template <typename T>
CLI::Validator integer_at_least(T min) { return integer_in<T>(min, std::numeric_limits<T>::max()); }

// A finite number in (min, max]: `--gpu-memory-utilization` (0, 1], `--dist-timeout` (0, inf).
inline CLI::Validator number_above(double min, double max = std::numeric_limits<double>::infinity()) {
  const std::string range = std::isinf(max) ? "a number greater than " + CLI::detail::to_string(min)
                                            : "a number in (" + CLI::detail::to_string(min) + ", " +
                                                  CLI::detail::to_string(max) + "]";
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) || !(value > min) ||
            !(value <= max))
          return "expected " + range + ", got '" + text + "'";
        return {};
      },
      range);
}

// vLLM's human-readable lengths (`--max-model-len 4k`): a whole number, or a number with a suffix: k m g t are
// powers of 1000 and take a fraction (25.6k = 25600; the product is truncated, as vLLM's int(float) does),
// K M G T are powers of 1024 and take whole numbers only (4K = 4096). Handed on as the plain integer.
inline CLI::Validator human_readable_length(int64_t max) {
  return CLI::Validator(
      [max](std::string& text) -> std::string {
        const std::string given = text;
        const size_t first = text.find_first_not_of(" \t"), last = text.find_last_not_of(" \t");
        std::string t = first == std::string::npos ? "" : text.substr(first, last - first + 1);
        std::string lower = t;
        for (char& c : lower) c = (char)std::tolower((unsigned char)c);
        if (lower == "auto" || lower == "-1")
          return "'" + given + "' (vLLM's auto: the longest length the KV cache holds) is not supported; give a length (e.g. 4k, "
                 "4K, 32768) or 0 for the model's limit";
        const std::string decimal = "kmgt", binary = "KMGT";
        const char suffix = t.empty() ? '\0' : t.back();
        const size_t dec_power = decimal.find(suffix), bin_power = binary.find(suffix);
        std::string number = (dec_power != std::string::npos || bin_power != std::string::npos) ? t.substr(0, t.size() - 1) : t;
        const size_t dot = number.find('.');
        const std::string whole = number.substr(0, dot), fraction = dot == std::string::npos ? "" : number.substr(dot + 1);
        auto digits = [](const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; };
        const std::string expected = "expected a length such as 32768, 4k (4000) or 4K (4096), got '" + given + "'";
        if (!digits(whole) || (dot != std::string::npos && !digits(fraction))) return expected;
        if (dot != std::string::npos && dec_power == std::string::npos) {
          if (bin_power == std::string::npos) return expected;
          return "decimals are not allowed with the binary suffix " + std::string(1, suffix) + " in '" + given +
                 "'; did you mean " + number + (char)std::tolower((unsigned char)suffix) + "?";
        }
        double value;
        if (dec_power != std::string::npos) value = std::strtod(number.c_str(), nullptr) * std::pow(1000.0, (double)dec_power + 1);
        else if (bin_power != std::string::npos) value = std::strtod(number.c_str(), nullptr) * std::pow(1024.0, (double)bin_power + 1);
        else value = std::strtod(number.c_str(), nullptr);
        if (!(value <= (double)max)) return "'" + given + "' is too large: at most " + std::to_string(max);
        text = std::to_string((int64_t)value);  // truncated toward zero, as vLLM's int(float)
        return {};
      },
      "a length: 32768, 4k, 4K");
}

struct EngineFlags {
  EngineArgs args;
  int pipeline_parallel_size = 1;  // only 1: checked by its flag
};

inline void add_engine_flags(CLI::App* app, EngineFlags& f, bool model_required = true) {
  auto* m = app->add_option("--model,-m", f.args.model, "Hugging Face model folder or hub id in the local HF cache");
  if (model_required) m->required();
  app->add_option("--tokenizer", f.args.tokenizer, "tokenizer folder (default: the model's)");
  app->add_option("--dtype", f.args.dtype, "auto, float32, float16, bfloat16")->capture_default_str();
  app->add_option("--device", f.args.device, "auto, cpu, cuda")->capture_default_str();
  app->add_option("--tensor-parallel-size", f.args.tensor_parallel_size, "ranks to shard one replica over (-tp)")
      ->capture_default_str()
      ->check(integer_at_least(1));
  app->add_option("--data-parallel-size", f.args.data_parallel_size,
                  "engine replicas (-dp); launcher world size = data-parallel size x tensor-parallel size (1: world / tp)")
      ->capture_default_str()
      ->check(integer_at_least(1));
  // vLLM's -pp: only 1 (no pipeline parallelism here), accepted so that vLLM command lines with -pp 1 run.
  app->add_option("--pipeline-parallel-size", f.pipeline_parallel_size,
                  "pipeline stages (-pp): only 1; shard with --tensor-parallel-size instead")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            if (text == "1") return {};
            return "pipeline parallelism is not supported (got '" + text +
                   "'): only 1; shard the model with --tensor-parallel-size (-tp) instead";
          },
          "1"));
  app->add_option("--max-model-len", f.args.max_model_len,
                  "longest sequence, prompt and output (0: the model's limit); 4k = 4000, 4K = 4096, 1m = 10^6")
      ->transform(human_readable_length(std::numeric_limits<int>::max()));  // transform: hands on the integer
  app->add_option("--quantization,-q", f.args.quantization,
                  "fp8: quantise the linear layers' weights to FP8 at load (FP8 checkpoints load as FP8 without it)")
      ->check(CLI::IsMember({"fp8"}));
  app->add_option("--generation-config", f.args.generation_config,
                  "default sampling parameters: auto (the model's generation_config.json), vllm, or a folder")
      ->capture_default_str();
  // vLLM's --seed: the engine's seed, which seeds every request that has no seed of its own.
  const CLI::Validator any_int64 = integer_in(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  app->add_option("--seed", f.args.seed, "the engine's random seed (seeds requests without their own seed)")
      ->capture_default_str()
      ->check(any_int64);
  app->add_option("--engine-seed", f.args.seed, "deprecated: use --seed")
      ->check(any_int64)
      ->each([](const std::string&) {
        std::fprintf(stderr, "shardlm: --engine-seed is deprecated: use --seed (the engine seed, as vLLM's)\n");
      });
  app->add_option("--block-size", f.args.block_size, "KV-cache block size in tokens")
      ->capture_default_str()
      ->check(integer_at_least(1));
  app->add_option("--max-num-batched-tokens", f.args.max_num_batched_tokens,
                  "token budget per step (0: vLLM's default: 16384 offline / 8192 served on GPUs of 70 GiB or more "
                  "other than A100, 8192 / 2048 on other GPUs, 8192 on CPUs)")
      ->check(integer_at_least(0));
  app->add_option("--max-num-seqs", f.args.max_num_seqs,
                  "requests running at once (0: vLLM's default: 1024 on GPUs of 70 GiB or more other than A100, else 256)")
      ->check(integer_at_least(0));
  app->add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", f.args.enable_prefix_caching,
                "reuse KV blocks of shared prompt prefixes (default on)");
  app->add_flag("--enable-chunked-prefill,!--no-enable-chunked-prefill", f.args.enable_chunked_prefill,
                "split long prompts over steps (default on)");
  app->add_option("--kv-cache-memory-bytes", f.args.kv_cache_memory_bytes, "CPU KV-cache budget in bytes (0: auto)")
      ->check(integer_at_least<int64_t>(0));
  app->add_option("--gpu-memory-utilization", f.args.gpu_memory_utilization, "fraction of GPU memory to use, in (0, 1]")
      ->capture_default_str()
      ->check(number_above(0.0, 1.0));
  app->add_option("--num-threads", f.args.num_threads, "CPU threads per rank (0: cores / local ranks)")
      ->check(integer_at_least(0));
  app->add_option("--dist-timeout", f.args.distributed_timeout_s, "seconds to wait for other ranks")
      ->capture_default_str()
      ->check(number_above(0.0));
  app->add_option("--scheduling-policy", f.args.scheduling_policy,
                  "fcfs (arrival order) or priority (by each request's priority, lower first; vLLM's)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fcfs", "priority"}));
  app->add_flag("--enforce-eager", f.args.enforce_eager, "run every step eagerly: no CUDA graphs for decode steps");
  app->add_option("--max-logprobs", f.args.max_logprobs, "most log-probabilities a request may ask for (-1: no limit)")
      ->capture_default_str()
      ->check(integer_at_least(-1));
}

}  // namespace shardlm::cli
