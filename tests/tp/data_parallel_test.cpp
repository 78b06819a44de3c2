// Data parallelism of whole engines (vLLM's torchrun_dp_example): world = dp * tp ranks, each replica an
// independent engine with its own prompts and seed. Replicas must agree within themselves bitwise and
// equal single-replica runs (TP=2 and TP=1) of the same prompts; `shardlm generate` under external DP runs
// every prompt on every replica; shapes that do not fit fail on every rank. Workers are this binary,
// started with SHARDLM_DP_WORKER set.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/fixtures.h"
#include "common/subprocess.h"
#include "distributed/launch_env.h"
#include "shardlm/llm.h"

using namespace shardlm;
using namespace shardlm::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kMaxTokens = 8;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

std::vector<Prompt> fixture_prompts(const std::string& model) {
  std::ifstream f(model_dir(model) + "/golden.json");
  auto g = json::parse(f);
  std::vector<Prompt> out;
  for (const auto& p : g["prompts"]) out.push_back(Prompt::from_token_ids(p["prompt_token_ids"].get<std::vector<int32_t>>()));
  return out;
}

// What replica `replica` of `replicas` does, as in vLLM's example: greedy on its share of the prompts
// (index % replicas == replica), then one sampled request on prompt 0 that takes the engine's seed.
json run_replica(LLM& llm, const std::vector<Prompt>& all, int replica, int replicas) {
  std::vector<Prompt> mine;
  std::vector<int> index;
  for (size_t i = 0; i < all.size(); i++)
    if ((int)i % replicas == replica) {
      mine.push_back(all[i]);
      index.push_back((int)i);
    }
  SamplingParams greedy;
  greedy.temperature = 0;
  greedy.max_tokens = kMaxTokens;
  greedy.ignore_eos = true;
  json rec;
  rec["replica"] = replica;
  rec["replicas"] = replicas;
  auto outs = llm.generate(mine, greedy, false);
  for (size_t k = 0; k < outs.size(); k++) rec["greedy"][std::to_string(index[k])] = outs[k].outputs[0].token_ids;
  SamplingParams sampled;
  sampled.temperature = 1.0f;
  sampled.max_tokens = kMaxTokens;
  sampled.ignore_eos = true;
  rec["sampled"] = llm.generate({all[0]}, sampled, false)[0].outputs[0].token_ids;
  return rec;
}

EngineArgs engine_args(const std::string& model, int tp, int64_t seed) {
  EngineArgs a;
  a.model = model_dir(model);
  a.device = "cpu";
  a.dtype = "float32";
  a.tensor_parallel_size = tp;
  a.seed = seed;
  a.num_threads = 1;
  a.max_model_len = 64;
  a.distributed_timeout_s = 30;
  return a;
}

}  // namespace

// SHARDLM_DP_WORKER: output folder; SHARDLM_DP_MODEL; SHARDLM_DP_TP; SHARDLM_DP_SIZE (unset: not given);
// SHARDLM_DP_EMULATE=R: no data parallelism, this process (group) plays replicas 0..R-1 one after another.
// Writes out.<rank>.json: the replicas' records. Replica k's engine seed is 100 + k.
TEST(TpWorker, DataParallelGenerate) {
  const char* out = std::getenv("SHARDLM_DP_WORKER");
  if (!out) GTEST_SKIP() << "worker test: runs only under a launcher started by the DataParallel driver tests";
  const std::string model = std::getenv("SHARDLM_DP_MODEL");
  const int tp = env_int("SHARDLM_DP_TP", 1), emulate = env_int("SHARDLM_DP_EMULATE", 0);
  const LaunchEnv env = detect_launch_env();
  const std::vector<Prompt> prompts = fixture_prompts(model);
  json records = json::array();
  if (emulate > 0) {
    for (int k = 0; k < emulate; k++) {
      LLM llm(engine_args(model, tp, 100 + k));
      ASSERT_EQ(llm.data_parallel_size(), 1);
      records.push_back(run_replica(llm, prompts, k, emulate));
    }
  } else {
    // Each replica picks its own seed before the engine exists, from the launcher's rank.
    EngineArgs args = engine_args(model, tp, 100 + env.rank / tp);
    args.data_parallel_size = env_int("SHARDLM_DP_SIZE", 1);
    LLM llm(args);
    const int dp_rank = llm.data_parallel_rank(), dp_size = llm.data_parallel_size();
    EXPECT_EQ(dp_rank, env.rank / tp);
    EXPECT_EQ(dp_size, env.world_size / tp);
    json rec = run_replica(llm, prompts, dp_rank, dp_size);
    rec["tp_ranks"] = llm.tp_group().ranks;
    rec["dp_ranks"] = llm.dp_group().ranks;
    rec["world_ranks"] = llm.world_group().ranks;
    rec["tp_rank"] = llm.tp_group().rank;
    // A collective on the DP group: each replica's number, from the ranks holding this shard.
    std::vector<std::string> got = llm.dp_group().cpu_group.all_gather_bytes(std::to_string(dp_rank));
    rec["dp_gather"] = got;
    records.push_back(rec);
  }
  std::ofstream f(std::string(out) + "/out." + std::to_string(env.rank) + ".json");
  f << records.dump() << "\n";
}

namespace {

std::string tmp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("shardlm-dp-" + tag + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

json read_json(const std::string& path) {
  std::string text = read_file(path);
  if (text.empty()) return json();
  return json::parse(text);
}

std::string worker(const std::string& dir, const std::string& model, int tp, const std::string& extra) {
  return "SHARDLM_DP_WORKER=" + dir + " SHARDLM_DP_MODEL=" + model + " SHARDLM_DP_TP=" + std::to_string(tp) + " " +
         extra + " ";
}

std::string launch(int nproc) {
  return bin_dir() + "/shardlm-run --nproc-per-node=" + std::to_string(nproc) + " --master-port=" +
         std::to_string(free_port()) + " ";
}

std::string self() { return bin_dir() + "/test_tp --gtest_filter=TpWorker.DataParallelGenerate"; }

}  // namespace

TEST(DataParallel, Tp2Dp2ReplicasMatchSingleReplicaRuns) {
  SHARDLM_REQUIRE_FIXTURES();
  const std::string model = "tiny-opt";
  const std::string dp = tmp_dir("tp2dp2"), ref2 = tmp_dir("ref-tp2"), ref1 = tmp_dir("ref-tp1");
  CommandResult r = run_command(worker(dp, model, 2, "SHARDLM_DP_SIZE=2") + launch(4) + self(), 240);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(worker(ref2, model, 2, "SHARDLM_DP_EMULATE=2") + launch(2) + self(), 240);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(worker(ref1, model, 1, "SHARDLM_DP_EMULATE=2") + self(), 120);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const json tp2 = read_json(ref2 + "/out.0.json"), tp1 = read_json(ref1 + "/out.0.json");
  ASSERT_EQ(tp2.size(), 2u);
  ASSERT_EQ(tp1.size(), 2u);
  for (int rank = 0; rank < 4; ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    const int replica = rank / 2;
    const std::string text = read_file(dp + "/out." + std::to_string(rank) + ".json");
    ASSERT_FALSE(text.empty());
    // Both ranks of a replica: bitwise the same outputs (the files differ only in tp_rank).
    json rec = json::parse(text)[0];
    EXPECT_EQ(rec["tp_rank"], rank % 2);
    EXPECT_EQ(rec["tp_ranks"], (std::vector<int>{2 * replica, 2 * replica + 1}));
    EXPECT_EQ(rec["dp_ranks"], (std::vector<int>{rank % 2, rank % 2 + 2}));
    EXPECT_EQ(rec["world_ranks"], (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(rec["dp_gather"], (std::vector<std::string>{"0", "1"}));
    EXPECT_EQ(rec["replica"], replica);
    EXPECT_EQ(rec["replicas"], 2);
    EXPECT_EQ(rec["greedy"].size(), 2u);  // 4 prompts, every other one
    const json partner = json::parse(read_file(dp + "/out." + std::to_string(rank ^ 1) + ".json"))[0];
    EXPECT_EQ(rec["greedy"], partner["greedy"]);
    EXPECT_EQ(rec["sampled"], partner["sampled"]);
    // The replica is the engine a TP=2 run is: the same greedy tokens and, with the same seed, samples.
    EXPECT_EQ(rec["greedy"], tp2[replica]["greedy"]);
    EXPECT_EQ(rec["sampled"], tp2[replica]["sampled"]);
    // And greedy equals TP=1 (samples may differ there: TP changes logits in the last bits).
    EXPECT_EQ(rec["greedy"], tp1[replica]["greedy"]);
  }
  // The replicas' seeds differ, so the same sampled prompt gives different tokens.
  EXPECT_NE(read_json(dp + "/out.0.json")[0]["sampled"], read_json(dp + "/out.2.json")[0]["sampled"]);
  fs::remove_all(dp);
  fs::remove_all(ref2);
  fs::remove_all(ref1);
}

TEST(DataParallel, GenerateUnderExternalDpRunsEveryPromptOnEveryReplica) {
  // 2 ranks, tensor_parallel_size 1, --data-parallel-size not given: 2 replicas (said once), each generates
  // all prompts; both equal a single-process run.
  SHARDLM_REQUIRE_FIXTURES();
  const std::string dir = tmp_dir("gen");
  const std::string gen = bin_dir() + "/shardlm generate --model " + model_dir("tiny-opt") +
                          " --prompt-token-ids 2,100,200 --prompt-token-ids 2,5,6,7,8 --temperature 0 --max-tokens 8"
                          " --ignore-eos --no-progress --num-threads 1";
  CommandResult one = run_command(gen + " --output-jsonl " + dir + "/single.jsonl", 120);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  CommandResult r = run_command(launch(2) + gen + " --output-jsonl " + dir + "/out.{rank}.jsonl", 240);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  size_t n = 0;
  for (size_t pos = r.output.find("so running 2 data-parallel replicas"); pos != std::string::npos;
       pos = r.output.find("so running 2 data-parallel replicas", pos + 1))
    ++n;
  EXPECT_EQ(n, 1u) << r.output;
  const std::string single = read_file(dir + "/single.jsonl");
  ASSERT_FALSE(single.empty());
  EXPECT_EQ(read_file(dir + "/out.0.jsonl"), single);
  EXPECT_EQ(read_file(dir + "/out.1.jsonl"), single);
  fs::remove_all(dir);
}

TEST(DataParallel, WorldSizeThatIsNotDpTimesTpFailsEveryRank) {
  SHARDLM_REQUIRE_FIXTURES();
  const std::string gen = bin_dir() + "/shardlm generate --model " + model_dir("tiny-opt") +
                          " --prompt hi --no-progress --num-threads 1 --tensor-parallel-size 2";
  auto t0 = std::chrono::steady_clock::now();
  CommandResult r = run_command(launch(3) + gen, 60);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("the launcher (shardlm-run) started world_size=3 processes, which is not a multiple of "
                          "tensor_parallel_size=2"),
            std::string::npos)
      << r.output;
  r = run_command(launch(4) + gen + " --data-parallel-size 3", 60);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("data_parallel_size=3 x tensor_parallel_size=2 needs world_size=6 processes, but the "
                          "launcher (shardlm-run) started world_size=4 processes"),
            std::string::npos)
      << r.output;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
  // Without a launcher, data_parallel_size > 1 says how many processes to start.
  r = run_command(bin_dir() + "/shardlm generate --model " + model_dir("tiny-opt") +
                      " --prompt hi --no-progress --data-parallel-size 2",
                  60);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not started by a launcher (world_size=1); start data_parallel_size x "
                          "tensor_parallel_size = 2 processes"),
            std::string::npos)
      << r.output;
}
