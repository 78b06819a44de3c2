// safetensors reading: the fixtures (values cross-checked with Python's struct module) and hand-made
// files, good and bad.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "common/fixtures.h"
#include "core/error.h"
#include "io/weight_store.h"
#include "temp_dir.h"
#include "test_util.h"

namespace shardlm {
namespace {

using testing::expect_error;
using testing::safetensors_bytes;
using testing::TempDir;

std::vector<uint16_t> first_u16(const Tensor& t, size_t n) {
  std::vector<uint16_t> v(n);
  std::memcpy(v.data(), t.raw(), n * 2);
  return v;
}

std::vector<float> first_f32(const Tensor& t, size_t n) {
  std::vector<float> v(n);
  std::memcpy(v.data(), t.raw(), n * 4);
  return v;
}

TEST(Safetensors, TinyOptFixture) {
  SHARDLM_REQUIRE_FIXTURES();
  auto store = WeightStore::open(testing::model_dir("tiny-opt"));
  EXPECT_EQ(store->names().size(), 36u);
  const WeightInfo& info = store->info("model.decoder.embed_tokens.weight");
  EXPECT_EQ(info.dtype, DType::F16);
  EXPECT_EQ(info.shape, (std::vector<int64_t>{50272, 64}));
  EXPECT_EQ(info.file, testing::model_dir("tiny-opt") + "/model.safetensors");
  Tensor t = store->get("model.decoder.embed_tokens.weight");
  EXPECT_EQ(t.shape(), info.shape);
  EXPECT_EQ(t.dtype(), DType::F16);
  // Reference: Python struct.unpack('<4H') at the tensor's data_offsets.
  EXPECT_EQ(first_u16(t, 4), (std::vector<uint16_t>{0x2c9f, 0x2d48, 0xad5e, 0xa3d4}));
  EXPECT_EQ(first_u16(store->get("model.decoder.layers.1.fc2.bias"), 4),
            (std::vector<uint16_t>{0x2538, 0x29e1, 0xa55a, 0xae24}));
}

TEST(Safetensors, TinyLlamaFixture) {
  SHARDLM_REQUIRE_FIXTURES();
  auto store = WeightStore::open(testing::model_dir("tiny-llama"));
  std::vector<std::string> names = store->names();
  EXPECT_EQ(names.size(), 21u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_TRUE(store->has("lm_head.weight"));
  EXPECT_FALSE(store->has("model.lm_head.weight"));
  EXPECT_EQ(store->info("lm_head.weight").shape, (std::vector<int64_t>{32000, 64}));
  EXPECT_EQ(first_u16(store->get("lm_head.weight"), 4), (std::vector<uint16_t>{0xa8e7, 0x1ed2, 0x2dcd, 0xa45d}));
  EXPECT_EQ(first_u16(store->get("model.norm.weight"), 4), (std::vector<uint16_t>{0x3ad5, 0x3ce7, 0x3abd, 0x3801}));
  Tensor k = store->get("model.layers.1.self_attn.k_proj.weight");
  EXPECT_EQ(k.shape(), (std::vector<int64_t>{32, 64}));
  EXPECT_FLOAT_EQ(f16_to_f32(first_u16(k, 1)[0]), -0.0078125f);
}

TEST(Safetensors, Stories260KFloat32Fixture) {
  SHARDLM_REQUIRE_FIXTURES();
  auto store = WeightStore::open(testing::model_dir("stories260K"));
  EXPECT_EQ(store->names().size(), 47u);
  for (const std::string& name : store->names()) EXPECT_EQ(store->info(name).dtype, DType::F32) << name;
  Tensor e = store->get("model.embed_tokens.weight");
  EXPECT_EQ(e.shape(), (std::vector<int64_t>{512, 64}));
  std::vector<float> v = first_f32(e, 4);
  EXPECT_FLOAT_EQ(v[0], -0.29474878311157227f);
  EXPECT_FLOAT_EQ(v[1], 0.5618956089019775f);
  EXPECT_FLOAT_EQ(v[3], 0.34057360887527466f);
  EXPECT_FLOAT_EQ(first_f32(store->get("model.layers.4.mlp.up_proj.weight"), 3)[2], -0.11145710200071335f);
}

TEST(Safetensors, ViewsOutliveTheStoreAndGetIsThreadSafe) {
  SHARDLM_REQUIRE_FIXTURES();
  auto store = WeightStore::open(testing::model_dir("tiny-opt"));
  std::vector<std::string> names = store->names();
  std::vector<std::vector<Tensor>> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int round = 0; round < 50; ++round)
        for (const std::string& n : names) got[i].push_back(store->get(n));
    });
  for (auto& t : threads) t.join();
  Tensor kept = store->get("model.decoder.embed_tokens.weight");
  store.reset();  // the mapping must stay alive through the tensors
  EXPECT_EQ(first_u16(kept, 4), (std::vector<uint16_t>{0x2c9f, 0x2d48, 0xad5e, 0xa3d4}));
  for (int i = 1; i < 4; ++i)
    for (size_t j = 0; j < got[0].size(); ++j) ASSERT_EQ(got[i][j].raw(), got[0][j].raw());
}

TEST(Safetensors, HandMadeFileWithEveryAcceptedDtype) {
  TempDir dir;
  std::string data = testing::f32_bytes({1, 2, 3, 4, 5, 6});  // "a": F32 [2, 3]
  data += std::string("\x80\x3f\x00\xc0", 4);                 // "b": BF16 [2] = {1.0, -2.0}
  data += std::string("\x00\x3c\x00\xbc", 4);                 // "c": F16 [2] = {1.0, -1.0}
  std::string i64(8, '\0');
  i64[0] = 7;
  data += i64;                                 // "d": I64 [1] = {7}
  data += std::string("\x05\x00\x00\x00", 4);  // "e": I32 [1] = {5}
  data += std::string("\x09", 1);              // "f": U8 [1] = {9}
  // The header is padded with spaces to keep the data 8-aligned, as the safetensors writer does.
  std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]},"c":{"dtype":"F16","shape":[2],"data_offsets":[28,32]},)"
      R"("d":{"dtype":"I64","shape":[1],"data_offsets":[32,40]},"e":{"dtype":"I32","shape":[1],"data_offsets":[40,44]},)"
      R"("f":{"dtype":"U8","shape":[1],"data_offsets":[44,45]},"empty":{"dtype":"F32","shape":[0,4],"data_offsets":[45,45]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  dir.write("model.safetensors", safetensors_bytes(header, data));
  auto store = WeightStore::open(dir.path());
  EXPECT_EQ(store->names(), (std::vector<std::string>{"a", "b", "c", "d", "e", "empty", "f"}));
  Tensor a = store->get("a");
  EXPECT_EQ(a.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(first_f32(a, 6), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  Tensor b = store->get("b");
  EXPECT_EQ(b.dtype(), DType::BF16);
  EXPECT_EQ(bf16_to_f32(first_u16(b, 2)[1]), -2.0f);
  EXPECT_EQ(f16_to_f32(first_u16(store->get("c"), 2)[1]), -1.0f);
  EXPECT_EQ(store->get("d").data<int64_t>()[0], 7);
  EXPECT_EQ(store->get("e").data<int32_t>()[0], 5);
  EXPECT_EQ(store->get("f").data<uint8_t>()[0], 9);
  EXPECT_EQ(store->get("empty").numel(), 0);
}

TEST(Safetensors, MisalignedDataIsCopiedNotReadUnaligned) {
  TempDir dir;
  std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[1,13]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  dir.write("model.safetensors", safetensors_bytes(header, "x" + testing::f32_bytes({0.5f, -1.5f, 2.25f})));
  Tensor w = WeightStore::open(dir.path())->get("w");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.raw()) % 4, 0u);
  EXPECT_EQ(first_f32(w, 3), (std::vector<float>{0.5f, -1.5f, 2.25f}));
}

struct BadFile {
  const char* label;
  std::string bytes;
  std::vector<std::string> message_parts;
};

TEST(Safetensors, BadFilesGiveErrorsNamingFileAndTensor) {
  const std::string ok_data = testing::f32_bytes({1, 2, 3, 4});
  auto entry = [](const std::string& body) { return std::string(R"({"x":)") + body + "}"; };
  std::string length_past_end;
  testing::put_le(length_past_end, 1000, 8);
  length_past_end += "{}";
  const std::vector<BadFile> cases = {
      {"shorter than 8 bytes", "abc", {"model.safetensors", "3 bytes", "8-byte"}},
      {"header length past end", length_past_end, {"model.safetensors", "header length 1000", "past the end"}},
      {"malformed JSON",
       safetensors_bytes(R"({"x": {"dtype": "F32",,}})", ok_data),
       {"model.safetensors", "not valid JSON", "line 1, column 23"}},
      {"number out of range",
       safetensors_bytes(entry(R"({"dtype":"F32","shape":[1e999],"data_offsets":[0,4]})"), ok_data),
       {"model.safetensors", "not valid JSON", "number overflow"}},
      {"header not an object", safetensors_bytes("[1,2]", ok_data), {"model.safetensors", "JSON object"}},
      {"offsets past end",
       safetensors_bytes(entry(R"({"dtype":"F32","shape":[8],"data_offsets":[0,32]})"), ok_data),
       {"model.safetensors", "tensor 'x'", "data_offsets [0, 32]", "past the end"}},
      {"end before begin",
       safetensors_bytes(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"), ok_data),
       {"tensor 'x'", "end before"}},
      {"unknown dtype",
       safetensors_bytes(entry(R"({"dtype":"Q7","shape":[4],"data_offsets":[0,16]})"), ok_data),
       {"model.safetensors", "tensor 'x'", "unknown dtype 'Q7'", "expected F32, F16 or BF16"}},
      {"unsupported dtype",
       safetensors_bytes(entry(R"({"dtype":"I8","shape":[16],"data_offsets":[0,16]})"), ok_data),
       {"model.safetensors: tensor 'x' has dtype I8; expected F32, F16 or BF16"}},
      {"size not matching shape",
       safetensors_bytes(entry(R"({"dtype":"F16","shape":[2,3],"data_offsets":[0,16]})"), ok_data),
       {"tensor 'x'", "span 16 bytes", "shape [2, 3] needs 12 bytes"}},
      {"negative dimension",
       safetensors_bytes(entry(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"), ok_data),
       {"tensor 'x'", "\"shape\" must hold non-negative integers"}},
      {"overflowing shape",
       safetensors_bytes(entry(R"({"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]})"), ok_data),
       {"tensor 'x'", "overflows"}},
      {"missing data_offsets",
       safetensors_bytes(entry(R"({"dtype":"F32","shape":[4]})"), ok_data),
       {"tensor 'x'", "no \"data_offsets\""}},
      {"entry not an object", safetensors_bytes(entry("17"), ok_data), {"tensor 'x'", "must be an object"}},
  };
  for (const BadFile& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir dir;
    dir.write("model.safetensors", c.bytes);
    try {
      WeightStore::open(dir.path());
      ADD_FAILURE() << "no error for " << c.label;
    } catch (const Error& e) {
      for (const std::string& part : c.message_parts)
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what() << "\nlacks: " << part;
    }
  }
}

TEST(Safetensors, ShardedIndex) {
  TempDir dir;
  dir.write("model-00001-of-00002.safetensors",
            safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", testing::f32_bytes({1, 2})));
  dir.write("model-00002-of-00002.safetensors",
            safetensors_bytes(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", testing::f32_bytes({3})));
  dir.write("model.safetensors.index.json",
            R"({"metadata":{"total_size":12},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
            R"("b":"model-00002-of-00002.safetensors"}})");
  // A lone model.safetensors beside the index must be ignored: the index is preferred.
  dir.write("model.safetensors", "garbage");
  auto store = WeightStore::open(dir.path());
  EXPECT_EQ(store->names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(store->info("b").file, dir.file("model-00002-of-00002.safetensors"));
  EXPECT_EQ(first_f32(store->get("b"), 1)[0], 3.0f);
  EXPECT_EQ(first_f32(store->get("a"), 2)[1], 2.0f);
}

TEST(Safetensors, ShardedIndexErrors) {
  {
    TempDir dir;
    dir.write("s1.safetensors",
              safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", testing::f32_bytes({1})));
    dir.write("model.safetensors.index.json", R"({"weight_map":{"a":"s1.safetensors","zz":"s1.safetensors"}})");
    expect_error([&] { WeightStore::open(dir.path()); },
                 {"model.safetensors.index.json", "tensor 'zz'", "s1.safetensors"});
  }
  {
    TempDir dir;
    dir.write("model.safetensors.index.json", R"({"weight_map":{"a":"missing.safetensors"}})");
    expect_error([&] { WeightStore::open(dir.path()); }, {"cannot open", "missing.safetensors"});
  }
  {
    TempDir dir;
    dir.write("model.safetensors.index.json", R"({"weight_map":{"a":"../../etc/passwd"}})");
    expect_error([&] { WeightStore::open(dir.path()); }, {"'../../etc/passwd'", "inside the model folder"});
  }
  {
    TempDir dir;
    dir.write("model.safetensors.index.json", R"({"metadata":{}})");
    expect_error([&] { WeightStore::open(dir.path()); }, {"model.safetensors.index.json", "weight_map"});
  }
  {
    TempDir dir;  // the same tensor in two shards
    std::string shard =
        safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", testing::f32_bytes({1}));
    dir.write("s1.safetensors", shard);
    dir.write("s2.safetensors", shard);
    dir.write("model.safetensors.index.json", R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})");
    expect_error([&] { WeightStore::open(dir.path()); },
                 {"tensor 'a' appears twice", "s1.safetensors", "s2.safetensors"});
  }
}

}  // namespace
}  // namespace shardlm
