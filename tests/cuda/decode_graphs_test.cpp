// CUDA graphs for decode steps against eager execution, on the fixture models (random-weight real
// architectures): the model runner's logits for graph-replayed batches padded to their bucket (1, 3, 8, 13
// sequences and shrinking batches) against the same steps run eagerly, then whole generations through the
// engine (enforce_eager against graphs: greedy tokens identical, log-probabilities close), with chunked
// prefill interleaving eager and replayed steps, and under TP=2 on two GPUs. Needs the whole library (the
// ops-only GPU build leaves this file out).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>

#include "common/fixtures.h"
#include "common/model_harness.h"
#include "common/subprocess.h"
#include "cuda/cuda_test_util.h"
#include "engine/llm_engine.h"
#include "shardlm/llm.h"

#ifdef SHARDLM_HAVE_CUDA
#include <cuda_runtime.h>
#endif

using namespace shardlm;
using namespace shardlm::testing;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kModels = {"tiny-opt", "tiny-opt-postln", "tiny-llama", "stories260K"};

double logits_bar(DType dt) { return dt == DType::F32 ? 1e-5 : 2e-2; }
double near_tie(DType dt) { return dt == DType::F32 ? 1e-4 : 0.2; }  // margins the dtype cannot resolve

std::vector<int32_t> random_prompt(int len, int64_t vocab, std::mt19937_64& gen) {
  std::vector<int32_t> p;
  for (int i = 0; i < len; ++i) p.push_back((int32_t)(3 + gen() % (uint64_t)(vocab - 3)));
  return p;
}

// Two runners over one model (each its own KV cache), one eager and one replaying graphs, fed the same
// steps: a prefill of every sequence, then decode steps whose batch shrinks from `batch` to 1 (so several
// buckets run, most of them padded). Every decode step's logits must agree row by row.
void compare_runners(const std::string& model, DType dt, int batch) {
  SHARDLM_REQUIRE_GPU();
  SHARDLM_REQUIRE_FIXTURES();
  SCOPED_TRACE(::testing::Message() << model << " " << dtype_label(dt) << " batch " << batch);
  const TestTarget target{Device::CUDA, dt};
  LoadedModel m = load_model_on(model_dir(model), target);
  const int64_t vocab = m.model->config().vocab_size;
  constexpr int64_t kBlockSize = 16, kBlocksPerSeq = 8;
  const KVCacheSpec spec{batch * kBlocksPerSeq + 1, kBlockSize};
  RunnerOptions with_graphs;
  with_graphs.cuda_graphs = true;
  with_graphs.max_num_seqs = 16;
  with_graphs.max_model_len = 256;  // table width 16 (wider than the tables used: zero-padded)
  ModelRunner eager(*m.model, spec, Device::CUDA, target.kv_dtype());
  ModelRunner graphed(*m.model, spec, Device::CUDA, target.kv_dtype(), with_graphs);
  ASSERT_NE(graphed.decode_graphs(), nullptr);

  std::mt19937_64 gen(11 + batch);
  std::vector<int32_t> block_order((size_t)spec.num_blocks);
  std::iota(block_order.begin(), block_order.end(), 0);
  std::shuffle(block_order.begin() + 1, block_order.end(), gen);  // block 0 stays unused: padding reads it
  std::vector<std::vector<int32_t>> seqs, blocks;
  for (int s = 0; s < batch; ++s) {
    seqs.push_back(random_prompt(3 + 5 * s % 29, vocab, gen));  // lengths cross block boundaries
    blocks.emplace_back(block_order.begin() + 1 + s * kBlocksPerSeq, block_order.begin() + 1 + (s + 1) * kBlocksPerSeq);
  }
  auto last_rows = [&](ModelRunner& r, const std::vector<SequenceStep>& steps) {
    Tensor logits = r.execute(steps).to(Device::CPU);  // before the next execute (graph outputs are reused)
    std::vector<std::vector<float>> rows;
    for (int64_t i = 0; i < logits.dim(0); ++i) rows.push_back(row(logits, i));
    return rows;
  };

  std::vector<SequenceStep> prefill;
  for (int s = 0; s < batch; ++s)
    prefill.push_back(SequenceStep{std::span<const int32_t>(seqs[(size_t)s]), 0, &blocks[(size_t)s], true});
  std::vector<std::vector<float>> next = last_rows(eager, prefill);
  last_rows(graphed, prefill);  // prefill steps run eagerly in both

  int64_t decode_steps = 0;
  for (int live = batch; live >= 1; live = live > 2 ? live - (live + 2) / 3 : live - 1) {
    for (int rep = 0; rep < 3; ++rep) {
      std::vector<SequenceStep> steps;
      for (int s = 0; s < live; ++s) {
        seqs[(size_t)s].push_back(argmax(next[(size_t)s]));
        const int32_t pos = (int32_t)seqs[(size_t)s].size() - 1;
        steps.push_back(SequenceStep{std::span<const int32_t>(seqs[(size_t)s].data() + pos, 1), pos,
                                     &blocks[(size_t)s], true});
      }
      std::vector<std::vector<float>> want = last_rows(eager, steps), got = last_rows(graphed, steps);
      ++decode_steps;
      ASSERT_EQ(got.size(), (size_t)live);
      for (int s = 0; s < live; ++s) {
        EXPECT_LT(rel_error(got[(size_t)s], want[(size_t)s].data(), (size_t)vocab), logits_bar(dt))
            << "decode step " << decode_steps << " sequence " << s << " of " << live;
        if (top2_margin(want[(size_t)s]) > near_tie(dt)) {
          EXPECT_EQ(argmax(got[(size_t)s]), argmax(want[(size_t)s])) << "decode step " << decode_steps;
        }
      }
      next = want;
    }
  }
  EXPECT_EQ(graphed.decode_graphs()->replays(), decode_steps);
  EXPECT_EQ(eager.decode_graphs(), nullptr);
  std::vector<int32_t> captured = graphed.decode_graphs()->captured_sizes();
  EXPECT_EQ(captured.front(), 1);  // the batch always shrinks to 1
  EXPECT_GT(graphed.decode_graphs()->pool_bytes(), 0u);
}

class DecodeGraphRunner : public ::testing::TestWithParam<DType> {};

TEST_P(DecodeGraphRunner, ReplayedLogitsMatchEagerLogits) {
  for (const std::string& model : kModels)
    for (int batch : {1, 3, 8, 13}) compare_runners(model, GetParam(), batch);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DecodeGraphRunner, ::testing::Values(DType::F32, DType::BF16),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_label(i.param)); });

// --- Whole generations through the engine.

struct Generation {
  std::vector<RequestOutput> outputs;
  int64_t replays = 0;
  std::vector<int32_t> captured;
};

EngineArgs gpu_args(const std::string& model, DType dt, bool enforce_eager) {
  EngineArgs a;
  a.model = model_dir(model);
  a.device = "cuda";
  a.dtype = dtype_name(dt);
  a.enforce_eager = enforce_eager;
  a.max_model_len = 256;
  a.max_num_seqs = 16;
  a.kv_cache_memory_bytes = int64_t{64} << 20;  // no profiling run, no 90% of the GPU for a tiny model
  return a;
}

// `batch` prompts of mixed lengths with max_tokens 4..22, so the running batch shrinks through the buckets.
Generation generate(EngineArgs args, int batch) {
  LLM llm(args);
  std::mt19937_64 gen(100 + batch);
  std::vector<Prompt> prompts;
  std::vector<SamplingParams> params;
  for (int i = 0; i < batch; ++i) {
    prompts.push_back(Prompt::from_token_ids(random_prompt(2 + (7 * i) % 40, llm.vocab_size(), gen)));
    SamplingParams p;
    p.temperature = 0.f;
    p.ignore_eos = true;
    p.max_tokens = 4 + (3 * i) % 19;
    p.logprobs = 2;  // the top two: the margin tells a near-tie
    params.push_back(p);
  }
  Generation g;
  g.outputs = llm.generate(prompts, params, false);
  if (const DecodeGraphs* graphs = llm.engine().runner().decode_graphs()) {
    g.replays = graphs->replays();
    g.captured = graphs->captured_sizes();
  }
  return g;
}

// Greedy tokens identical up to the first step whose eager top-2 margin the dtype cannot resolve; the
// chosen tokens' log-probabilities close.
void expect_same_generations(const Generation& eager, const Generation& graphed, DType dt) {
  ASSERT_EQ(eager.outputs.size(), graphed.outputs.size());
  const double logprob_tol = dt == DType::F32 ? 1e-4 : 5e-2;
  for (size_t i = 0; i < eager.outputs.size(); ++i) {
    const CompletionOutput& a = eager.outputs[i].outputs[0];
    const CompletionOutput& b = graphed.outputs[i].outputs[0];
    ASSERT_TRUE(a.logprobs && b.logprobs);
    ASSERT_EQ(a.token_ids.size(), b.token_ids.size()) << "prompt " << i;
    for (size_t t = 0; t < a.token_ids.size(); ++t) {
      const auto& top = (*a.logprobs)[t];
      std::vector<float> lp;
      for (const auto& [id, v] : top) lp.push_back(v);
      std::sort(lp.rbegin(), lp.rend());
      const bool tie = lp.size() >= 2 && lp[0] - lp[1] < near_tie(dt);
      if (a.token_ids[t] != b.token_ids[t]) {
        EXPECT_TRUE(tie) << "prompt " << i << " step " << t << ": " << a.token_ids[t] << " vs " << b.token_ids[t];
        break;  // the sequences legitimately part at a near-tie
      }
      EXPECT_NEAR(top.at(a.token_ids[t]), (*b.logprobs)[t].at(b.token_ids[t]), logprob_tol)
          << "prompt " << i << " step " << t;
      if (tie) break;
    }
  }
}

class DecodeGraphEngine : public ::testing::TestWithParam<DType> {};

TEST_P(DecodeGraphEngine, GreedyGenerationsEqualEnforceEager) {
  SHARDLM_REQUIRE_GPU();
  SHARDLM_REQUIRE_FIXTURES();
  const DType dt = GetParam();
  for (const std::string& model : kModels) {
    for (int batch : {1, 3, 8, 13}) {
      SCOPED_TRACE(::testing::Message() << model << " batch " << batch);
      Generation eager = generate(gpu_args(model, dt, true), batch);
      Generation graphed = generate(gpu_args(model, dt, false), batch);
      EXPECT_EQ(eager.replays, 0);
      EXPECT_GT(graphed.replays, 0);
      ASSERT_FALSE(graphed.captured.empty());
      const std::vector<int32_t> sizes = DecodeGraphs::batch_sizes(16);  // 1, 2, 4, 8, 16
      EXPECT_EQ(graphed.captured.back(), *std::lower_bound(sizes.begin(), sizes.end(), batch))
          << "the first decode step runs all " << batch << " sequences";
      expect_same_generations(eager, graphed, dt);
    }
  }
}

TEST_P(DecodeGraphEngine, ChunkedPrefillInterleavesEagerAndReplayedSteps) {
  SHARDLM_REQUIRE_GPU();
  SHARDLM_REQUIRE_FIXTURES();
  const DType dt = GetParam();
  for (const std::string& model : {std::string("tiny-llama"), std::string("tiny-opt")}) {
    SCOPED_TRACE(model);
    EngineArgs eager_args = gpu_args(model, dt, true), graph_args = gpu_args(model, dt, false);
    for (EngineArgs* a : {&eager_args, &graph_args}) {
      a->max_num_batched_tokens = 16;  // prompts arrive in chunks beside running decodes
      a->max_num_seqs = 4;             // later prompts wait, then join a running batch
    }
    Generation eager = generate(eager_args, 11), graphed = generate(graph_args, 11);
    EXPECT_GT(graphed.replays, 0);
    expect_same_generations(eager, graphed, dt);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DecodeGraphEngine, ::testing::Values(DType::F32, DType::BF16),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_label(i.param)); });

// --- TP=2: graphs with NCCL all-reduces inside, both ranks capturing the same buckets in the same order.

int visible_gpus() {
#ifdef SHARDLM_HAVE_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
#else
  return 0;
#endif
}

TEST(DecodeGraphTp, TwoRanksWithGraphsEqualEagerAndEachOther) {
  SHARDLM_REQUIRE_GPU();
  SHARDLM_REQUIRE_FIXTURES();
  if (visible_gpus() < 2) GTEST_SKIP() << "needs two GPUs";
  if (!fs::exists(bin_dir() + "/shardlm") || !fs::exists(bin_dir() + "/shardlm-run"))
    GTEST_SKIP() << "shardlm / shardlm-run not built in " << bin_dir();
  const std::string dir = (fs::temp_directory_path() / ("shardlm-graph-tp-" + std::to_string(getpid()))).string();
  fs::create_directories(dir);
  for (const std::string model : {"tiny-llama", "tiny-opt"}) {
    SCOPED_TRACE(model);
    std::string ids;
    std::mt19937_64 gen(5);
    for (int i = 0; i < 5; ++i) {
      ids += " --prompt-token-ids ";
      std::vector<int32_t> p = random_prompt(3 + 4 * i, model == "tiny-opt" ? 50272 : 32000, gen);
      for (size_t j = 0; j < p.size(); ++j) ids += (j ? "," : "") + std::to_string(p[j]);
    }
    const std::string gen_cmd = bin_dir() + "/shardlm generate --model " + model_dir(model) + ids +
                                " --temperature 0 --max-tokens 12 --ignore-eos --logprobs 2 --no-progress"
                                " --device cuda --dtype float32 --max-model-len 256 --kv-cache-memory-bytes 67108864"
                                " --tensor-parallel-size 2";
    for (const std::string mode : {"eager", "graphs"}) {
      CommandResult r = run_command(bin_dir() + "/shardlm-run --nproc-per-node=2 --master-port=" +
                                        std::to_string(free_port()) + " " + gen_cmd +
                                        (mode == "eager" ? " --enforce-eager" : "") + " --output-jsonl " + dir + "/" +
                                        mode + ".{rank}.jsonl",
                                    240);
      ASSERT_EQ(r.exit_code, 0) << r.output;
      EXPECT_EQ(read_file(dir + "/" + mode + ".1.jsonl"), read_file(dir + "/" + mode + ".0.jsonl"))
          << "ranks must agree (" << mode << ")";
    }
    std::istringstream a(read_file(dir + "/eager.0.jsonl")), b(read_file(dir + "/graphs.0.jsonl"));
    std::string la, lb;
    int lines = 0;
    while (std::getline(a, la) && std::getline(b, lb)) {
      ++lines;
      EXPECT_EQ(nlohmann::json::parse(la)["outputs"][0]["token_ids"], nlohmann::json::parse(lb)["outputs"][0]["token_ids"]);
    }
    EXPECT_EQ(lines, 5);
  }
  fs::remove_all(dir);
}

}  // namespace
