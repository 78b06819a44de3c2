// The unpickler's memory bound: a pickle whose values would hold far more memory than its size justifies
// (one byte per value, a few MB making a GB) is refused with an error, and so is a data.pkl past the size
// real torch.save state dicts have; real-shaped state dicts stay well inside the bound.
#include <gtest/gtest.h>

#include "io/pickle.h"
#include "io/weight_store.h"
#include "pickle_builder.h"
#include "temp_dir.h"
#include "test_util.h"

namespace shardlm {
namespace {

using testing::expect_error;
using testing::NoHooks;
using testing::TempDir;
using testing::TorchTensorSpec;

PickleValue* run(const std::string& bytes, PickleArena& arena) {
  NoHooks hooks;
  return unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), arena, hooks, "test.pkl");
}

// 2 MB of pickle that makes one value per byte.
std::string many_nones() { return "\x80\x02" + std::string(2'000'000, 'N') + "."; }

TEST(PickleLimits, OneValuePerByteIsRefused) {
  PickleArena arena;
  expect_error([&] { run(many_nones(), arena); },
               {"test.pkl: refusing to unpickle", "of 2000003", "values", "past the bound of", "MiB"});
}

TEST(PickleLimits, TuplesOfNothingAreRefused) {
  std::string list = "\x80\x02";
  for (int i = 0; i < 1'000'000; ++i) list += "N\x85";  // a 1-tuple of None per 2 bytes: two values
  list += ".";
  PickleArena arena;
  expect_error([&] { run(list, arena); }, {"refusing to unpickle"});
}

TEST(PickleLimits, MemoEntriesStackSlotsAndStringsAreCounted) {
  std::string memo = "\x80\x04N";
  for (int i = 0; i < 1000; ++i) memo += "\x94";  // MEMOIZE: a new memo entry per byte
  memo += ".";
  PickleArena a;
  run(memo, a);
  EXPECT_GE(a.memory_bytes(), 1000 * 64u);
  std::string dup = "\x80\x02N";
  for (int i = 0; i < 1000; ++i) dup += "2";  // DUP: a stack slot per byte
  dup += ".";
  PickleArena b;
  run(dup, b);
  EXPECT_GE(b.memory_bytes(), 1000 * sizeof(void*));
  std::string text = "\x80\x02X";
  testing::put_le(text, 100000, 4);
  text += std::string(100000, 'x') + ".";
  PickleArena c;
  run(text, c);
  EXPECT_GE(c.memory_bytes(), 100000u);
}

TEST(PickleLimits, TheLimitCanBeGiven) {
  const std::string small = "\x80\x02(NNNNNNNNNNl.";
  PickleArena a;
  NoHooks hooks;
  const auto* bytes = reinterpret_cast<const uint8_t*>(small.data());
  expect_error([&] { unpickle(bytes, small.size(), a, hooks, "x.pkl", 1000); }, {"x.pkl: refusing to unpickle"});
  PickleArena b;
  EXPECT_EQ(unpickle(bytes, small.size(), b, hooks, "x.pkl", 100'000)->items.size(), 10u);
  EXPECT_GT(b.memory_bytes(), 10 * sizeof(PickleValue));
}

// A state dict shaped like a 32-layer Llama's (9 tensors a layer, names as transformers writes them),
// pickled as torch.save does, loads; its estimated memory is well below the bound.
TEST(PickleLimits, RealShapedStateDictFitsWithRoom) {
  std::vector<TorchTensorSpec> specs;
  const char* const kNames[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                                "self_attn.o_proj.weight", "mlp.gate_proj.weight",    "mlp.up_proj.weight",
                                "mlp.down_proj.weight",    "input_layernorm.weight",  "post_attention_layernorm.weight"};
  for (int l = 0; l < 32; ++l)
    for (const char* n : kNames)
      specs.push_back({"model.layers." + std::to_string(l) + "." + n, "HalfStorage", std::to_string(specs.size()), 4,
                       0, {2, 2}, {2, 1}});
  std::map<std::string, std::string> storages;
  for (size_t i = 0; i < specs.size(); ++i) storages[std::to_string(i)] = std::string(8, '\0');
  const std::string pickle = testing::torch_state_dict_pickle(specs, true);
  TempDir dir;
  dir.write("pytorch_model.bin", testing::torch_zip("pytorch_model", pickle, storages));
  EXPECT_EQ(WeightStore::open(dir.path())->names().size(), specs.size());
}

TEST(PickleLimits, ManyNonesInACheckpointAreRefused) {
  TempDir dir;
  dir.write("pytorch_model.bin", testing::torch_zip("pytorch_model", many_nones(), {}));
  expect_error([&] { WeightStore::open(dir.path()); },
               {dir.file("pytorch_model.bin"), "pytorch_model/data.pkl: refusing to unpickle"});
}

TEST(PickleLimits, OversizedDataPklIsRefused) {
  // A valid pickle (None) followed by padding to 33 MiB: nothing a state dict of weights looks like.
  std::string pickle = "\x80\x02N.";
  pickle.resize(33u << 20, ' ');
  TempDir dir;
  dir.write("pytorch_model.bin", testing::torch_zip("pytorch_model", pickle, {}));
  expect_error([&] { WeightStore::open(dir.path()); },
               {dir.file("pytorch_model.bin"), "pytorch_model/data.pkl is 34603008 bytes", "32 MiB"});
}

}  // namespace
}  // namespace shardlm
