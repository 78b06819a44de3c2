// Tensor parallelism across processes: TP=2 and TP=4 against TP=1 on the fixtures (logits within 1e-5,
// identical greedy tokens, identical seeded samples on every rank), under shardlm-run and mpirun, and a
// rank killed mid-generation. Worker processes are this same binary, started by a launcher with
// SHARDLM_TP_WORKER set; the driver tests compare what they write.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fixtures.h"
#include "common/model_harness.h"
#include "common/subprocess.h"
#include "distributed/launch_env.h"
#include "distributed/parallel_state.h"

using namespace shardlm;
using namespace shardlm::testing;
namespace fs = std::filesystem;

namespace {

constexpr int kSteps = 12;

std::vector<std::vector<int32_t>> golden_prompts(const std::string& model) {
  std::ifstream f(model_dir(model) + "/golden.json");
  auto g = nlohmann::json::parse(f);
  std::vector<std::vector<int32_t>> out;
  for (const auto& p : g["prompts"]) out.push_back(p["prompt_token_ids"].get<std::vector<int32_t>>());
  return out;
}

// Every step's logits of greedy decoding of each golden prompt, flattened.
std::vector<float> greedy_logits(Model& model, const std::vector<std::vector<int32_t>>& prompts) {
  std::vector<float> all;
  for (const auto& p : prompts) {
    GreedyRun r = run_greedy(model, p, kSteps, false);
    for (const auto& row : r.step_logits) all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

std::string tmp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("shardlm-tp-" + tag + "-" + std::to_string(getpid()));
  fs::create_directories(d);
  return d.string();
}

}  // namespace

// Runs inside each launched rank: loads this rank's shard and writes its logits.
TEST(TpWorker, WriteLogits) {
  const char* out = std::getenv("SHARDLM_TP_WORKER");
  if (!out) GTEST_SKIP() << "worker test: runs only under a launcher started by the TP driver tests";
  const std::string model = std::getenv("SHARDLM_TP_MODEL");
  DistributedOptions opts;
  opts.tensor_parallel_size = detect_launch_env().world_size;
  opts.timeout = std::chrono::milliseconds(30000);
  auto dist = init_distributed(opts);
  auto weights = WeightStore::open(model_dir(model));
  LoadContext ctx(*weights, dist->tp.rank_in_group, dist->tp.world_size, dist->tp.device_group.get(), Device::CPU,
                  DType::F32);
  auto m = create_model(load_model_config(model_dir(model)), ctx);
  std::vector<float> logits = greedy_logits(*m, golden_prompts(model));
  std::ofstream f(std::string(out) + "/logits." + std::to_string(dist->world.rank_in_group) + ".bin", std::ios::binary);
  f.write(reinterpret_cast<const char*>(logits.data()), (std::streamsize)(logits.size() * sizeof(float)));
}

namespace {

void check_tp_logits(const std::string& model, int tp, const std::string& launcher) {
  SHARDLM_REQUIRE_FIXTURES();
  LoadedModel ref = load_cpu_model(model_dir(model));
  std::vector<float> want = greedy_logits(*ref.model, golden_prompts(model));
  std::string dir = tmp_dir(model + "-" + std::to_string(tp));
  const std::string self = bin_dir() + "/test_tp --gtest_filter=TpWorker.WriteLogits";
  const std::string env = "SHARDLM_TP_WORKER=" + dir + " SHARDLM_TP_MODEL=" + model + " ";
  std::string cmd;
  if (launcher == "shardlm-run") {
    cmd = env + bin_dir() + "/shardlm-run --nproc-per-node=" + std::to_string(tp) + " --master-port=" +
          std::to_string(free_port()) + " " + self;
  } else {
    cmd = env + "mpirun --allow-run-as-root --oversubscribe -np " + std::to_string(tp) +
          " -x SHARDLM_TP_WORKER -x SHARDLM_TP_MODEL -x MASTER_ADDR=127.0.0.1 -x MASTER_PORT=" +
          std::to_string(free_port()) + " " + self;
  }
  CommandResult r = run_command(cmd, 240);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const size_t vocab = (size_t)ref.model->config().vocab_size;
  for (int rank = 0; rank < tp; ++rank) {
    std::string bytes = read_file(dir + "/logits." + std::to_string(rank) + ".bin");
    ASSERT_EQ(bytes.size(), want.size() * sizeof(float)) << "rank " << rank;
    const float* got = reinterpret_cast<const float*>(bytes.data());
    for (size_t row = 0; row < want.size() / vocab; ++row) {
      std::vector<float> g(got + row * vocab, got + (row + 1) * vocab);
      EXPECT_LT(rel_error(g, want.data() + row * vocab, vocab), 1e-5) << "rank " << rank << " row " << row;
      EXPECT_EQ(argmax(g), argmax(std::vector<float>(want.data() + row * vocab, want.data() + (row + 1) * vocab)))
          << "rank " << rank << " row " << row;
    }
    if (rank > 0) {
      EXPECT_EQ(bytes, read_file(dir + "/logits.0.bin")) << "ranks must hold bitwise identical logits";
    }
  }
  fs::remove_all(dir);
}

// `shardlm generate` under shardlm-run: every rank's JSONL identical; greedy equal to TP=1. `env` prefixes the
// launcher's command line (e.g. "SHARDLM_CPU_COLLECTIVES=gloo "); `rank0_jsonl` (optional) receives rank 0's JSONL.
void check_generate(const std::string& model, int tp, const std::string& sampling,
                    std::vector<std::vector<int32_t>> prompts = {}, const std::string& env = "",
                    std::string* rank0_jsonl = nullptr) {
  SHARDLM_REQUIRE_FIXTURES();
  std::string dir = tmp_dir("gen-" + fs::path(model).filename().string() + "-" + std::to_string(tp));
  std::string ids;
  if (prompts.empty()) prompts = golden_prompts(model);
  for (const auto& p : prompts) {
    ids += " --prompt-token-ids ";
    for (size_t i = 0; i < p.size(); ++i) ids += (i ? "," : "") + std::to_string(p[i]);
  }
  const std::string path = model.find('/') == std::string::npos ? model_dir(model) : model;
  const std::string gen = bin_dir() + "/shardlm generate --model " + path + ids + " " + sampling +
                          " --max-tokens 16 --ignore-eos --logprobs 2 --no-progress --num-threads 1";
  CommandResult one = run_command(gen + " --output-jsonl " + dir + "/tp1.jsonl", 120);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  CommandResult r = run_command(env + bin_dir() + "/shardlm-run --nproc-per-node=" + std::to_string(tp) + " --master-port=" +
                                    std::to_string(free_port()) + " " + gen + " --tensor-parallel-size " +
                                    std::to_string(tp) + " --output-jsonl " + dir + "/out.{rank}.jsonl",
                                240);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string rank0 = read_file(dir + "/out.0.jsonl");
  ASSERT_FALSE(rank0.empty());
  for (int rank = 1; rank < tp; ++rank)
    EXPECT_EQ(read_file(dir + "/out." + std::to_string(rank) + ".jsonl"), rank0) << "rank " << rank;
  if (sampling.find("--temperature 0") != std::string::npos) {
    // Greedy tokens equal TP=1's (log-probabilities may differ in the last bits).
    std::istringstream a(read_file(dir + "/tp1.jsonl")), b(rank0);
    std::string la, lb;
    while (std::getline(a, la) && std::getline(b, lb))
      EXPECT_EQ(nlohmann::json::parse(la)["outputs"][0]["token_ids"], nlohmann::json::parse(lb)["outputs"][0]["token_ids"]);
  }
  fs::remove_all(dir);
  if (rank0_jsonl) *rank0_jsonl = rank0;
}

}  // namespace

TEST(TensorParallel, TinyOptTp2LogitsMatchTp1) { check_tp_logits("tiny-opt", 2, "shardlm-run"); }
TEST(TensorParallel, TinyOptTp4LogitsMatchTp1) { check_tp_logits("tiny-opt", 4, "shardlm-run"); }
TEST(TensorParallel, TinyOptPostLnTp2LogitsMatchTp1) { check_tp_logits("tiny-opt-postln", 2, "shardlm-run"); }
TEST(TensorParallel, TinyOptBinTp2LogitsMatchTp1) { check_tp_logits("tiny-opt-bin", 2, "shardlm-run"); }
TEST(TensorParallel, TinyLlamaTp2LogitsMatchTp1) { check_tp_logits("tiny-llama", 2, "shardlm-run"); }
TEST(TensorParallel, TinyLlamaTp4ReplicatesKvHeads) { check_tp_logits("tiny-llama", 4, "shardlm-run"); }
TEST(TensorParallel, TinyOptTp2UnderMpirun) { check_tp_logits("tiny-opt", 2, "mpirun"); }

TEST(TensorParallel, GreedyGenerateTp2SameOnAllRanksAndAsTp1) { check_generate("tiny-opt", 2, "--temperature 0"); }
TEST(TensorParallel, GreedyGenerateTp3SameOnAllRanksAndAsTp1) {
  // An OPT whose 6 heads and FFN divide by 3 (tiny-opt's 4 heads do not).
  std::string dir = tmp_dir("opt6");
  CommandResult made = run_command(bin_dir() + "/shardlm make-model --preset opt-tiny --hidden-size 96 --num-heads 6 --ffn-dim 384 --out " +
                                   dir + "/model");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  check_generate(dir + "/model", 3, "--temperature 0", {{2, 100, 200, 300}, {2, 5, 6, 7, 8, 9, 10, 11, 12, 13}});
  fs::remove_all(dir);
}
TEST(TensorParallel, SampledGenerateTp2IdenticalAcrossRanks) {
  check_generate("tiny-opt", 2, "--temperature 0.8 --top-p 0.95 --seed 7");
}
TEST(TensorParallel, GreedyGenerateTp2SameThroughSharedMemoryAndGloo) {
  // Two ranks add each element once on either transport, so tokens and logprobs agree to the last bit.
  SHARDLM_REQUIRE_FIXTURES();
  std::string shm, gloo;
  check_generate("tiny-llama", 2, "--temperature 0", {}, "SHARDLM_CPU_COLLECTIVES=shm ", &shm);
  check_generate("tiny-llama", 2, "--temperature 0", {}, "SHARDLM_CPU_COLLECTIVES=gloo ", &gloo);
  ASSERT_FALSE(shm.empty());
  EXPECT_EQ(shm, gloo);
}
TEST(TensorParallel, Stories260KTp2) { check_generate("stories260K", 2, "--temperature 0", {{1}}); }

TEST(TensorParallel, HeadsNotDivisibleIsRefused) {
  SHARDLM_REQUIRE_FIXTURES();
  // tiny-opt has 4 heads: TP=3 does not divide them.
  CommandResult r = run_command(bin_dir() + "/shardlm-run --nproc-per-node=3 --master-port=" +
                                    std::to_string(free_port()) + " " + bin_dir() + "/shardlm generate --model " +
                                    model_dir("tiny-opt") + " --prompt hi --tensor-parallel-size 3 --no-progress",
                                120);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("num_attention_heads (4) is not divisible by tensor_parallel_size (3)"), std::string::npos)
      << r.output;
}

TEST(TensorParallel, WorldSizeMustBeAMultipleOfTpSize) {
  // (World 2 with TP 1 is two data-parallel replicas now: tests/tp/data_parallel_test.cpp.)
  SHARDLM_REQUIRE_FIXTURES();
  CommandResult r = run_command(bin_dir() + "/shardlm-run --nproc-per-node=2 --master-port=" +
                                    std::to_string(free_port()) + " " + bin_dir() + "/shardlm generate --model " +
                                    model_dir("tiny-opt") + " --prompt hi --tensor-parallel-size 4 --no-progress",
                                120);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("tensor_parallel_size=4"), std::string::npos) << r.output;
}

TEST(TensorParallel, RankKilledMidGenerationFailsEveryoneInBoundedTime) {
  SHARDLM_REQUIRE_FIXTURES();
  // Rank 1 is SIGKILLed while both ranks generate; rank 0 and the launcher must exit non-zero naming it.
  const std::string tag = "shardlm-fault-" + std::to_string(getpid());
  // 32 prompts x 400 tokens: several seconds of work even over shared-memory collectives (one prompt finished
  // before the killer's 1.5 s delay), so the kill lands mid-generation.
  std::string prompts;
  for (int i = 0; i < 32; ++i) prompts += " --prompt hi";
  const std::string cmd = "SHARDLM_FAULT_TAG=" + tag + " " + bin_dir() + "/shardlm-run --nproc-per-node=2 --master-port=" +
                          std::to_string(free_port()) + " " + bin_dir() + "/shardlm generate --model " +
                          model_dir("tiny-opt") + prompts +
                          " --tensor-parallel-size 2 --max-tokens 400 --ignore-eos --no-progress "
                          "--num-threads 1 --dist-timeout 10 --max-model-len 500";
  std::thread killer([&] {
    // Find the worker whose environment has our tag and RANK=1, once it has run for a while.
    for (int attempt = 0; attempt < 200; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      for (const auto& e : fs::directory_iterator("/proc")) {
        std::string env = read_file(e.path().string() + "/environ");
        if (env.find("SHARDLM_FAULT_TAG=" + tag) == std::string::npos) continue;
        if (env.find(std::string("RANK=1") + '\0') == std::string::npos || env.find("LOCAL_RANK=1") == std::string::npos)
          continue;
        std::string cmdline = read_file(e.path().string() + "/cmdline");
        if (cmdline.find("generate") == std::string::npos) continue;
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        kill(std::stoi(e.path().filename().string()), SIGKILL);
        return;
      }
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  CommandResult r = run_command(cmd, 120);
  killer.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_LT(secs, 60);
  EXPECT_NE(r.output.find("rank 1"), std::string::npos) << r.output;
}
