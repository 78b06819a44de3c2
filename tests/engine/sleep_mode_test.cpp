// Sleep mode (vLLM's enable_sleep_mode, sleep(level), wake_up(tags)) on the CPU: greedy generation after a
// level-1 sleep equals generation before it; sleep(1) hands back the KV cache's resident memory and sleep(2)
// the weights' too; every buffer keeps its address; partial wake-ups in either order; the errors; and
// reset_prefix_cache(). A random-weight Llama of a few tens of MB (shardlm make-model) makes the resident
// memory changes measurable.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include "core/error.h"
#include "core/memory_arena.h"
#include "engine/llm_engine.h"
#include "engine_util.h"
#include "models/make_model.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

constexpr int64_t kKvBytes = int64_t(48) << 20;

size_t process_rss() {
  std::ifstream f("/proc/self/statm");
  size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * (size_t)sysconf(_SC_PAGESIZE);
}

size_t resident_bytes(const MemoryArena& arena) {
  const size_t bytes = arena.stats().committed_bytes, page = (size_t)sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> vec((bytes + page - 1) / page);
  if (bytes == 0 || ::mincore(arena.base(), bytes, vec.data()) != 0) return 0;
  size_t n = 0;
  for (unsigned char v : vec) n += (v & 1) ? page : 0;
  return n;
}

class SleepMode : public ::testing::Test {
 protected:
  // One Llama of ~35 MB (f16: 2 x 16 MB of vocab embedding and LM head, two small layers), made once.
  static void SetUpTestSuite() {
    dir_ = new std::string((std::filesystem::temp_directory_path() /
                            ("shardlm_sleep_model_" + std::to_string(::getpid()))).string());
    MakeModelOptions o;
    o.preset = "llama-tiny";
    o.out_dir = *dir_;
    o.hidden_size = 256;
    o.num_heads = 4;
    o.num_kv_heads = 2;
    o.ffn_dim = 512;
    o.num_layers = 2;
    o.max_position_embeddings = 256;
    make_random_model(o);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
  }

  static EngineArgs args(bool sleep_mode = true) {
    EngineArgs a;
    a.model = *dir_;
    a.device = "cpu";
    a.num_threads = 1;
    a.kv_cache_memory_bytes = kKvBytes;
    a.enable_sleep_mode = sleep_mode;
    return a;
  }

  static std::vector<Prompt> prompts() {
    std::vector<Prompt> p;
    for (int i = 0; i < 3; ++i) {
      std::vector<int32_t> ids;
      for (int j = 0; j < 20 + 7 * i; ++j) ids.push_back(5 + (j * 37 + i * 101) % 31000);
      p.push_back(Prompt::from_token_ids(ids));
    }
    return p;
  }

  static std::vector<std::vector<int32_t>> run(LLM& llm) {
    std::vector<std::vector<int32_t>> out;
    for (const auto& o : llm.generate(prompts(), greedy(12), false)) out.push_back(o.outputs[0].token_ids);
    return out;
  }

  static std::string* dir_;
};
std::string* SleepMode::dir_ = nullptr;

template <typename E>
void expect_throw_mentioning(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected an exception mentioning '" << part << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace

TEST_F(SleepMode, WeightsAndKvCacheLiveInTheirArenasAndNothingElseDoes) {
  LLM llm(args());
  const MemoryArena* weights = llm.engine().arena("weights");
  const MemoryArena* kv = llm.engine().arena("kv_cache");
  ASSERT_NE(weights, nullptr);
  ASSERT_NE(kv, nullptr);
  run(llm);  // activations and step inputs of a few steps must not land in an arena

  std::set<const void*> storages;
  for (const auto& p : llm.engine().model().parameters()) {
    EXPECT_TRUE(weights->owns(p.local.raw())) << p.name;
    storages.insert(p.local.raw());
  }
  const ArenaStats ws = weights->stats();
  EXPECT_EQ(ws.num_live_blocks, storages.size()) << "only parameters in the weights arena";
  EXPECT_EQ(ws.wasted_bytes, 0u) << "no loading temporaries in the weights arena";
  EXPECT_GT(ws.live_bytes, size_t(30) << 20);

  const KVCache& cache = llm.engine().runner().kv_cache();
  for (size_t l = 0; l < cache.k.size(); ++l) {
    EXPECT_TRUE(kv->owns(cache.k[l].raw()));
    EXPECT_TRUE(kv->owns(cache.v[l].raw()));
  }
  const ArenaStats ks = kv->stats();
  EXPECT_EQ(ks.num_live_blocks, 2 * cache.k.size());
  EXPECT_EQ(ks.wasted_bytes, 0u);
  EXPECT_GE(ks.live_bytes, size_t(kKvBytes) * 9 / 10);

  LLM plain(args(false));
  EXPECT_EQ(plain.engine().arena("weights"), nullptr);
  EXPECT_EQ(find_arena(plain.engine().model().parameters()[0].local.raw()), nullptr);
}

TEST_F(SleepMode, Level1GenerationAfterWakeUpEqualsBefore) {
  LLM llm(args());
  const auto before = run(llm);
  std::vector<const void*> addresses;
  for (const auto& p : llm.engine().model().parameters()) addresses.push_back(p.local.raw());
  const void* kv0 = llm.engine().runner().kv_cache().k[0].raw();

  EXPECT_FALSE(llm.is_sleeping());
  llm.sleep(1);
  EXPECT_TRUE(llm.is_sleeping());
  llm.sleep(1);  // asleep already: nothing happens
  llm.sleep(2);
  llm.wake_up();
  EXPECT_FALSE(llm.is_sleeping());
  llm.wake_up();  // awake already: nothing happens

  size_t i = 0;
  for (const auto& p : llm.engine().model().parameters()) EXPECT_EQ(p.local.raw(), addresses[i++]) << p.name;
  EXPECT_EQ(llm.engine().runner().kv_cache().k[0].raw(), kv0);
  EXPECT_EQ(run(llm), before);
  // Twice more, so a second cycle works as well.
  llm.sleep(1);
  llm.wake_up({"weights", "kv_cache"});
  EXPECT_EQ(run(llm), before);
}

TEST_F(SleepMode, Level1ReleasesTheKvCacheAndLevel2TheWeightsToo) {
  for (int level : {1, 2}) {
    SCOPED_TRACE("level " + std::to_string(level));
    LLM llm(args());
    run(llm);
    const MemoryArena& weights = *llm.engine().arena("weights");
    const MemoryArena& kv = *llm.engine().arena("kv_cache");
    const size_t weight_bytes = weights.stats().used_bytes, kv_bytes = kv.stats().used_bytes;
    EXPECT_GE(resident_bytes(weights), weight_bytes);
    EXPECT_GE(resident_bytes(kv), kv_bytes) << "the KV cache is zeroed at start-up, so it is all resident";

    const size_t rss_awake = process_rss();
    llm.sleep(level);
    const size_t rss_asleep = process_rss();
    const size_t released = rss_awake > rss_asleep ? rss_awake - rss_asleep : 0;
    EXPECT_EQ(resident_bytes(kv), 0u);
    if (level == 1) {
      EXPECT_GE(resident_bytes(weights), weight_bytes) << "level 1 keeps the weights in host memory";
      EXPECT_GE(released, kv_bytes * 9 / 10);
      EXPECT_LT(released, kv_bytes + weight_bytes / 2);
    } else {
      EXPECT_EQ(resident_bytes(weights), 0u);
      EXPECT_GE(released, (kv_bytes + weight_bytes) * 9 / 10);
    }
    llm.wake_up();
  }
}

TEST_F(SleepMode, Level2KeepsAddressesForReloadedWeights) {
  LLM llm(args());
  const auto before = run(llm);
  // What load_weights would write back: every parameter's bytes.
  std::vector<std::vector<char>> saved;
  std::vector<const void*> addresses;
  for (const auto& p : llm.engine().model().parameters()) {
    const char* b = static_cast<const char*>(p.local.raw());
    saved.emplace_back(b, b + p.local.nbytes());
    addresses.push_back(p.local.raw());
  }
  llm.sleep(2);
  llm.wake_up();
  size_t i = 0;
  bool zero = true;
  for (const auto& p : llm.engine().model().parameters()) {
    EXPECT_EQ(p.local.raw(), addresses[i]) << p.name;
    const char* b = static_cast<const char*>(p.local.raw());
    for (size_t k = 0; k < p.local.nbytes(); k += 4093) zero = zero && b[k] == 0;
    std::memcpy(p.local.raw(), saved[i].data(), saved[i].size());
    ++i;
  }
  EXPECT_TRUE(zero) << "discarded weights read as zero on the CPU";
  EXPECT_EQ(run(llm), before);
}

TEST_F(SleepMode, WakeUpKvCacheThenWeights) {
  LLM llm(args());
  const auto before = run(llm);
  llm.sleep(1);
  llm.wake_up({"kv_cache"});
  EXPECT_TRUE(llm.is_sleeping()) << "the weights are still asleep";
  EXPECT_FALSE(llm.engine().arena("kv_cache")->sleeping());
  expect_throw_mentioning<Error>([&] { run(llm); }, "call wake_up() first");
  llm.wake_up({"weights"});
  EXPECT_FALSE(llm.is_sleeping());
  EXPECT_EQ(run(llm), before);

  llm.sleep(2);
  llm.wake_up({"weights"});
  EXPECT_TRUE(llm.is_sleeping());
  expect_throw_mentioning<Error>([&] { run(llm); }, "'kv_cache'");
  llm.wake_up({"kv_cache"});
  EXPECT_FALSE(llm.is_sleeping());
}

TEST_F(SleepMode, Errors) {
  {
    LLM plain(args(false));
    expect_throw_mentioning<Error>([&] { plain.sleep(1); }, "enable_sleep_mode=True");
    expect_throw_mentioning<Error>([&] { plain.wake_up(); }, "enable_sleep_mode=True");
    EXPECT_FALSE(plain.is_sleeping());
  }
  LLM llm(args());
  expect_throw_mentioning<std::invalid_argument>([&] { llm.sleep(0); }, "got 0");
  expect_throw_mentioning<std::invalid_argument>([&] { llm.sleep(3); }, "got 3");
  expect_throw_mentioning<std::invalid_argument>([&] { llm.wake_up({"weights", "kv"}); }, "'kv'");
  EXPECT_FALSE(llm.is_sleeping());

  // Unfinished requests: sleep is refused, and succeeds once they are gone.
  LLMEngine& engine = llm.engine();
  const int64_t r = engine.add_request(prompts()[0], greedy(4)).request_id;
  engine.step();
  expect_throw_mentioning<Error>([&] { llm.sleep(1); }, "unfinished");
  EXPECT_FALSE(llm.is_sleeping());
  engine.abort_request(r);
  llm.sleep(1);

  expect_throw_mentioning<Error>([&] { llm.generate(prompts(), greedy(4), false); },
                                 "the engine is sleeping");
  EXPECT_FALSE(engine.has_unfinished_requests()) << "nothing was queued";
  const AddedRequest q = engine.add_request(prompts()[0], greedy(4));
  ASSERT_FALSE(q.rejected);
  expect_throw_mentioning<Error>([&] { engine.step(); }, "call wake_up() first");
  engine.abort_request(q.request_id);
  llm.wake_up();
  EXPECT_EQ(llm.generate(prompts(), greedy(4), false).size(), 3u);
}

TEST(ResetPrefixCache, RepeatedPromptHitsUntilReset) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  std::vector<int32_t> ids;
  for (int j = 0; j < 40; ++j) ids.push_back(10 + j * 7);  // two full blocks and a part
  const std::vector<Prompt> prompt = {Prompt::from_token_ids(ids)};
  auto hits = [&] { return llm.stats().prefix_cache_hits_tokens; };

  const auto first = llm.generate(prompt, greedy(4), false)[0].outputs[0].token_ids;
  EXPECT_EQ(hits(), 0);
  llm.generate(prompt, greedy(4), false);
  EXPECT_EQ(hits(), 32) << "the repeated prompt's two full blocks come from the cache";

  EXPECT_TRUE(llm.reset_prefix_cache());
  EXPECT_EQ(llm.generate(prompt, greedy(4), false)[0].outputs[0].token_ids, first);
  EXPECT_EQ(hits(), 32) << "no hit after the reset";

  // While a request runs (and holds blocks) the reset is refused and changes nothing.
  LLMEngine& engine = llm.engine();
  ASSERT_FALSE(engine.add_request(prompt[0], greedy(4)).rejected.has_value());
  engine.step();
  EXPECT_EQ(hits(), 64) << "cached again after the run following the reset";
  EXPECT_FALSE(llm.reset_prefix_cache());
  while (engine.has_unfinished_requests()) engine.step();
  llm.generate(prompt, greedy(4), false);
  EXPECT_EQ(hits(), 96) << "the refused reset kept the cache";
}
