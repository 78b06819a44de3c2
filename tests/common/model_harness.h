// Loads a model folder at TP=1 and runs greedy decoding through the model runner directly (no scheduler),
// collecting every step's logits: the model-level golden tests use it.
// The device and dtype come from the environment, so the same golden tests run on a GPU:
//   SHARDLM_TEST_DEVICE=cpu|cuda   (default cpu)
//   SHARDLM_TEST_DTYPE=float32|float16|bfloat16   (CUDA only; default bfloat16 there, float32 on the CPU)
// On CUDA parameters, activations and the KV cache all take that dtype.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/model_runner.h"
#include "io/weight_store.h"
#include "layers/load_context.h"
#include "models/model.h"

namespace shardlm::testing {

struct TestTarget {
  Device device = Device::CPU;
  DType dtype = DType::F32;  // parameters (and, on CUDA, activations and KV cache)
  DType kv_dtype() const { return device == Device::CPU ? DType::F32 : dtype; }
};

inline TestTarget test_target() {
  TestTarget t;
  const char* dev = std::getenv("SHARDLM_TEST_DEVICE");
  std::string d = dev ? dev : "cpu";
  if (d == "cuda" || d == "gpu") t.device = Device::CUDA;
  else if (d != "cpu") fail("SHARDLM_TEST_DEVICE='", d, "': expected cpu or cuda");
  const char* dt = std::getenv("SHARDLM_TEST_DTYPE");
  t.dtype = dt ? parse_dtype(dt, "SHARDLM_TEST_DTYPE") : (t.device == Device::CPU ? DType::F32 : DType::BF16);
  if (t.device == Device::CPU && t.dtype != DType::F32)
    fail("SHARDLM_TEST_DTYPE=", dt, " needs SHARDLM_TEST_DEVICE=cuda: the CPU backend computes in float32");
  return t;
}

// How close the model must stay to transformers' fp32 outputs. fp32 arithmetic: logits to 1e-4. fp16/bf16
// weights and activations round every layer's output to 11 / 8 significant bits: fp16 logits to 1e-2, bf16
// to 2e-2 (measured on the fixtures on an H100: 1.0e-2 to 1.3e-2, all of it the rounding of bf16 storage;
// fp16, three bits finer, stays under 1e-2). Greedy tokens are compared only where the fp32 top-1 margin
// is clear of that noise.
struct GoldenTolerance {
  double logits_rel;     // normalised error of a logits row
  double logprob_abs;    // chosen token's log-probability
  double near_tie;       // stop comparing greedy tokens after a top1-top2 margin below this
  double unresolvable;   // a step whose margin is below this is not compared at all (the dtype cannot tell)
};

inline GoldenTolerance golden_tolerance(const TestTarget& t) {
  switch (t.dtype) {
    case DType::F32: return {1e-4, 1e-3, 1e-2, 0.0};
    case DType::F16: return {1e-2, 5e-2, 0.2, 0.2};
    case DType::BF16: return {2e-2, 5e-2, 0.2, 0.2};
    case DType::I32:
    case DType::I64:
    case DType::U8: break;
  }
  fail("golden tests: floating dtype expected, got ", dtype_name(t.dtype));
}

struct LoadedModel {
  std::unique_ptr<WeightStore> weights;
  std::unique_ptr<LoadContext> ctx;
  std::unique_ptr<Model> model;
  TestTarget target;
};

inline LoadedModel load_model_on(const std::string& dir, const TestTarget& target) {
  LoadedModel m;
  m.target = target;
  m.weights = WeightStore::open(dir);
  ModelConfig cfg = load_model_config(dir);
  m.ctx = std::make_unique<LoadContext>(*m.weights, 0, 1, nullptr, target.device, target.dtype);
  m.model = create_model(cfg, *m.ctx);
  return m;
}

inline LoadedModel load_cpu_model(const std::string& dir) { return load_model_on(dir, TestTarget{}); }
// On the device and dtype SHARDLM_TEST_DEVICE / SHARDLM_TEST_DTYPE name.
inline LoadedModel load_test_model(const std::string& dir) { return load_model_on(dir, test_target()); }

// Opens one .safetensors file (golden logits) through a temporary folder that links it as model.safetensors.
inline std::unique_ptr<WeightStore> open_safetensors_file(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("shardlm-golden-" + std::to_string(std::hash<std::string>{}(path)));
  fs::create_directories(dir);
  fs::path link = dir / "model.safetensors";
  std::error_code ec;
  fs::remove(link, ec);
  fs::create_symlink(fs::absolute(path), link);
  return WeightStore::open(dir.string());
}

// Row r of a logits tensor on any device.
inline std::vector<float> row(const Tensor& logits, int64_t r) {
  const Tensor one = logits.slice_rows(r, 1).to(Device::CPU);  // a host copy, wherever the logits are
  return std::vector<float>(one.data<float>(), one.data<float>() + one.numel());
}

// Top-1 minus top-2 of a logits row (at least two entries): how far greedy decoding is from a tie.
inline double top2_margin(const std::vector<float>& logits) {
  std::vector<float> c = logits;
  std::partial_sort(c.begin(), c.begin() + 2, c.end(), std::greater<float>());
  return (double)c[0] - c[1];
}

inline double rel_error(const std::vector<float>& a, const float* ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
    den += (double)ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

inline double log_softmax_at(const std::vector<float>& logits, int32_t id) {
  double m = -INFINITY;
  for (float v : logits) m = std::max(m, (double)v);
  double s = 0;
  for (float v : logits) s += std::exp((double)v - m);
  return (double)logits[(size_t)id] - m - std::log(s);
}

inline int32_t argmax(const std::vector<float>& v) {
  int32_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[(size_t)best]) best = (int32_t)i;
  return best;
}

struct GreedyRun {
  std::vector<std::vector<float>> prompt_logits;  // one row per prompt position (when per_token_prefill)
  std::vector<int32_t> tokens;
  std::vector<double> logprobs;
  std::vector<std::vector<float>> step_logits;  // logits that chose tokens[i]
};

// Greedy decoding of `new_tokens` tokens. With per_token_prefill the prompt is fed one token per step
// (exercising the KV cache at every position); otherwise in one prefill step.
inline GreedyRun run_greedy(Model& model, const std::vector<int32_t>& prompt, int new_tokens, bool per_token_prefill,
                            int64_t block_size = 16, const TestTarget& target = TestTarget{}) {
  ModelRunner runner(model, KVCacheSpec{64, block_size}, target.device, target.kv_dtype());
  std::vector<int32_t> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(63 - i);  // deliberately non-contiguous
  GreedyRun out;
  std::vector<int32_t> seq = prompt;
  std::vector<float> last;
  if (per_token_prefill) {
    for (size_t i = 0; i < prompt.size(); ++i) {
      SequenceStep st{std::span<const int32_t>(seq.data() + i, 1), (int32_t)i, &blocks, true};
      last = row(runner.execute({st}), 0);
      out.prompt_logits.push_back(last);
    }
  } else {
    SequenceStep st{std::span<const int32_t>(seq.data(), seq.size()), 0, &blocks, true};
    last = row(runner.execute({st}), 0);
  }
  for (int t = 0; t < new_tokens; ++t) {
    int32_t id = argmax(last);
    out.tokens.push_back(id);
    out.logprobs.push_back(log_softmax_at(last, id));
    out.step_logits.push_back(last);
    seq.push_back(id);
    if (t + 1 == new_tokens) break;
    SequenceStep st{std::span<const int32_t>(seq.data() + seq.size() - 1, 1), (int32_t)seq.size() - 1, &blocks, true};
    last = row(runner.execute({st}), 0);
  }
  return out;
}

// The same, on the model's own device and dtype.
inline GreedyRun run_greedy(LoadedModel& m, const std::vector<int32_t>& prompt, int new_tokens, bool per_token_prefill,
                            int64_t block_size = 16) {
  return run_greedy(*m.model, prompt, new_tokens, per_token_prefill, block_size, m.target);
}

}  // namespace shardlm::testing
