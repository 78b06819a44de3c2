// torch.save zip checkpoints (pytorch_model.bin): the fixture against its safetensors twin, hand-made
// archives through the restricted unpickler, and the inputs it must refuse.
#include <gtest/gtest.h>

#include <cstring>

#include "common/fixtures.h"
#include "core/error.h"
#include "io/weight_store.h"
#include "pickle_builder.h"
#include "temp_dir.h"
#include "test_util.h"
#include "zip_writer.h"

namespace shardlm {
namespace {

using testing::expect_error;
using testing::f32_bytes;
using testing::PickleBuilder;
using testing::TempDir;
using testing::TorchTensorSpec;

// The same model saved by transformers both ways: the .bin's keys lack the "model." prefix.
TEST(TorchBin, TinyOptBinMatchesSafetensorsByteForByte) {
  SHARDLM_REQUIRE_FIXTURES();
  auto bin = WeightStore::open(testing::model_dir("tiny-opt-bin"));
  auto st = WeightStore::open(testing::model_dir("tiny-opt"));
  std::vector<std::string> names = bin->names();
  ASSERT_EQ(names.size(), 36u);
  EXPECT_EQ(names.size(), st->names().size());
  EXPECT_EQ(bin->info(names[0]).file, testing::model_dir("tiny-opt-bin") + "/pytorch_model.bin");
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    ASSERT_EQ(name.rfind("decoder.", 0), 0u);  // returned exactly as stored, not renamed
    const std::string st_name = "model." + name;
    ASSERT_TRUE(st->has(st_name));
    Tensor a = bin->get(name), b = st->get(st_name);
    EXPECT_EQ(a.dtype(), b.dtype());
    EXPECT_EQ(a.shape(), b.shape());
    EXPECT_EQ(bin->info(name).shape, a.shape());
    ASSERT_EQ(a.nbytes(), b.nbytes());
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0);
  }
}

// Storage "0": 8 floats 1..8 shared by "w" ([2, 3] at offset 0) and "b" ([2] at offset 6); storage "1":
// halves {1, -2}; "s" a 0-d view of storage "0" element 4; "q" [1, 2, 1, 2] whose size-1 dimensions carry
// arbitrary strides (still contiguous for torch).
std::vector<TorchTensorSpec> sample_specs() {
  return {
      {"w", "FloatStorage", "0", 8, 0, {2, 3}, {3, 1}},
      {"b", "FloatStorage", "0", 8, 6, {2}, {1}},
      {"h", "HalfStorage", "1", 2, 0, {2}, {1}},
      {"s", "FloatStorage", "0", 8, 4, {}, {}},
      {"q", "FloatStorage", "2", 4, 0, {1, 2, 1, 2}, {99, 2, 7, 1}},
  };
}

std::map<std::string, std::string> sample_storages() {
  return {{"0", f32_bytes({1, 2, 3, 4, 5, 6, 7, 8})},
          {"1", std::string("\x00\x3c\x00\xc0", 4)},
          {"2", f32_bytes({-1, -2, -3, -4})}};
}

std::vector<float> floats(const Tensor& t) {
  std::vector<float> v((size_t)t.numel());
  std::memcpy(v.data(), t.raw(), v.size() * 4);
  return v;
}

struct ArchiveVariant {
  bool ordered_dict;
  size_t align;
  bool zip64;
  const char* archive;
};

class HandMadeArchive : public ::testing::TestWithParam<ArchiveVariant> {};

TEST_P(HandMadeArchive, TensorsComeBackWithTheirValues) {
  const ArchiveVariant& v = GetParam();
  TempDir dir;
  dir.write("pytorch_model.bin",
            testing::torch_zip(v.archive, testing::torch_state_dict_pickle(sample_specs(), v.ordered_dict),
                               sample_storages(), v.align, v.zip64));
  auto store = WeightStore::open(dir.path());
  EXPECT_EQ(store->names(), (std::vector<std::string>{"b", "h", "q", "s", "w"}));
  Tensor w = store->get("w");
  EXPECT_EQ(w.dtype(), DType::F32);
  EXPECT_EQ(w.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(floats(w), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(floats(store->get("b")), (std::vector<float>{7, 8}));
  Tensor s = store->get("s");
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(floats(s), (std::vector<float>{5}));
  EXPECT_EQ(floats(store->get("q")), (std::vector<float>{-1, -2, -3, -4}));
  Tensor h = store->get("h");
  EXPECT_EQ(h.dtype(), DType::F16);
  EXPECT_EQ(f16_to_f32(h.data<uint16_t>()[0]), 1.0f);
  EXPECT_EQ(f16_to_f32(h.data<uint16_t>()[1]), -2.0f);
  if (v.align == 64) {  // zero-copy: "w" and "b" view the same mapped storage
    EXPECT_EQ(static_cast<const char*>(store->get("b").raw()) - static_cast<const char*>(w.raw()), 24);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, HandMadeArchive,
                         ::testing::Values(ArchiveVariant{false, 64, false, "pytorch_model"},
                                           ArchiveVariant{true, 64, false, "archive"},
                                           ArchiveVariant{true, 0, false, "archive"},
                                           ArchiveVariant{false, 64, true, "pytorch_model"}));

std::string write_bin(const TempDir& dir, const std::string& pickle,
                      const std::map<std::string, std::string>& storages = sample_storages()) {
  return dir.write("pytorch_model.bin", testing::torch_zip("pytorch_model", pickle, storages));
}

TEST(TorchBin, RefusesGlobalsOutsideTheAllowList) {
  TempDir dir;
  PickleBuilder p;
  p.proto(2).global("os", "system").unicode("echo pwned").op(0x85).reduce().stop();
  std::string path = write_bin(dir, p.bytes());
  std::string message = expect_error([&] { WeightStore::open(dir.path()); }, {});
  EXPECT_EQ(message, path + ": refusing to unpickle global 'os system' (only tensors and ordered dicts are allowed)");

  PickleBuilder stack_global;  // protocol 4's STACK_GLOBAL takes the names from the stack
  stack_global.proto(4).op(0x8c).raw(std::string("\x08", 1) + "builtins").op(0x8c).raw(std::string("\x04", 1) + "eval");
  stack_global.op(0x93).stop();
  write_bin(dir, stack_global.bytes());
  expect_error([&] { WeightStore::open(dir.path()); }, {"refusing to unpickle global 'builtins eval'"});

  PickleBuilder torch_other;  // allowed module, name not on the list
  torch_other.proto(2).global("torch", "load").stop();
  write_bin(dir, torch_other.bytes());
  expect_error([&] { WeightStore::open(dir.path()); }, {"refusing to unpickle global 'torch load'"});
}

TEST(TorchBin, RejectsCompressedEntries) {
  TempDir dir;
  std::string pickle = testing::torch_state_dict_pickle(sample_specs(), false);
  dir.write("pytorch_model.bin", testing::make_zip({{"pytorch_model/data.pkl", pickle, 8},
                                                    {"pytorch_model/data/0", f32_bytes({1, 2, 3, 4, 5, 6, 7, 8})}}));
  expect_error([&] { WeightStore::open(dir.path()); },
               {"pytorch_model.bin", "'pytorch_model/data.pkl' is compressed", "deflate", "STORED"});
}

TEST(TorchBin, TensorErrorsNameTheTensor) {
  struct Case {
    const char* label;
    TorchTensorSpec spec;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"non-contiguous",
       {"t", "FloatStorage", "0", 8, 0, {2, 3}, {1, 2}},
       {"tensor 't'", "strides [1, 2]", "contiguous"}},
      {"past its storage",
       {"t", "FloatStorage", "0", 8, 6, {2, 3}, {3, 1}},
       {"tensor 't'", "does not fit", "32 bytes"}},
      {"negative offset", {"t", "FloatStorage", "0", 8, -1, {2}, {1}}, {"tensor 't'", "does not fit"}},
      {"float64",
       {"t", "DoubleStorage", "0", 4, 0, {2}, {1}},
       {"tensor 't' has dtype float64", "expected F32, F16 or BF16"}},
      {"missing storage entry",
       {"t", "FloatStorage", "7", 8, 0, {2}, {1}},
       {"tensor 't'", "'pytorch_model/data/7' is missing"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir dir;
    write_bin(dir, testing::torch_state_dict_pickle({c.spec}, false));
    try {
      WeightStore::open(dir.path());
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      for (const std::string& part : c.parts)
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what() << "\nlacks: " << part;
    }
  }
}

TEST(TorchBin, MalformedArchivesAndPickles) {
  const std::string good_pickle = testing::torch_state_dict_pickle(sample_specs(), true);
  {
    TempDir dir;  // a legacy (pre-1.6) torch.save file is a bare pickle, not a zip
    dir.write("pytorch_model.bin", good_pickle);
    expect_error([&] { WeightStore::open(dir.path()); }, {"pytorch_model.bin", "not a zip archive"});
  }
  {
    TempDir dir;  // cut in the middle
    std::string zip = testing::torch_zip("pytorch_model", good_pickle, sample_storages());
    dir.write("pytorch_model.bin", zip.substr(0, zip.size() / 2));
    expect_error([&] { WeightStore::open(dir.path()); }, {"pytorch_model.bin", "not a zip archive"});
  }
  {
    TempDir dir;  // pickle without STOP
    write_bin(dir, good_pickle.substr(0, good_pickle.size() - 1));
    expect_error([&] { WeightStore::open(dir.path()); }, {"data.pkl", "malformed pickle", "the pickle ends"});
  }
  {
    TempDir dir;  // STOP with nothing to return
    write_bin(dir, "\x80\x02.");
    expect_error([&] { WeightStore::open(dir.path()); }, {"data.pkl", "malformed pickle at byte 2", "stack underflow"});
  }
  {
    TempDir dir;  // pickle truncated inside a string
    write_bin(dir, good_pickle.substr(0, 12));
    expect_error([&] { WeightStore::open(dir.path()); }, {"data.pkl", "malformed pickle", "the pickle ends"});
  }
  {
    TempDir dir;
    write_bin(dir, "\x80\x02\xff.");
    expect_error([&] { WeightStore::open(dir.path()); }, {"data.pkl", "malformed pickle at byte 2", "opcode 0xff"});
  }
  {
    TempDir dir;  // a list that contains itself: no dict of tensors, and no leak or endless walk
    PickleBuilder p;
    p.proto(2).op(']').binput(0).binget(0).op('a').stop();
    write_bin(dir, p.bytes());
    expect_error([&] { WeightStore::open(dir.path()); }, {"expected a dict of tensors", "found a list"});
  }
  {
    TempDir dir;
    dir.write("pytorch_model.bin",
              testing::torch_zip("pytorch_model", good_pickle, sample_storages(), 64, false, "big"));
    expect_error([&] { WeightStore::open(dir.path()); }, {"'big'-endian", "little-endian"});
  }
  {
    TempDir dir;
    dir.write("pytorch_model.bin", testing::make_zip({{"weights/other.txt", "x"}}));
    expect_error([&] { WeightStore::open(dir.path()); }, {"no '<archive>/data.pkl'"});
  }
}

TEST(TorchBin, NonTensorEntriesAreSkipped) {
  TempDir dir;
  PickleBuilder p;  // {"step": 3, "w": tensor}
  p.proto(2).empty_dict().mark().unicode("step").integer(3);
  p.unicode("w").global("torch._utils", "_rebuild_tensor_v2").mark();
  p.mark()
      .unicode("storage")
      .global("torch", "FloatStorage")
      .unicode("0")
      .unicode("cpu")
      .integer(8)
      .tuple()
      .binpersid();
  p.integer(0).int_tuple({8}).int_tuple({1}).newfalse().global("collections", "OrderedDict").empty_tuple().reduce();
  p.tuple().reduce().setitems().stop();
  write_bin(dir, p.bytes());
  auto store = WeightStore::open(dir.path());
  EXPECT_EQ(store->names(), (std::vector<std::string>{"w"}));
  EXPECT_EQ(floats(store->get("w")), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(TorchBin, ShardedIndex) {
  TempDir dir;
  dir.write("pytorch_model-00001-of-00002.bin",
            testing::torch_zip("pytorch_model-00001-of-00002",
                               testing::torch_state_dict_pickle({{"a", "FloatStorage", "0", 2, 0, {2}, {1}}}, true),
                               {{"0", f32_bytes({1.5f, 2.5f})}}));
  dir.write("pytorch_model-00002-of-00002.bin",
            testing::torch_zip("pytorch_model-00002-of-00002",
                               testing::torch_state_dict_pickle({{"b", "FloatStorage", "0", 1, 0, {1}, {1}}}, true),
                               {{"0", f32_bytes({-4})}}));
  dir.write("pytorch_model.bin.index.json",
            R"({"metadata":{"total_size":12},"weight_map":{"a":"pytorch_model-00001-of-00002.bin",)"
            R"("b":"pytorch_model-00002-of-00002.bin"}})");
  auto store = WeightStore::open(dir.path());
  EXPECT_EQ(store->names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(floats(store->get("a")), (std::vector<float>{1.5f, 2.5f}));
  EXPECT_EQ(floats(store->get("b")), (std::vector<float>{-4}));
  EXPECT_EQ(store->info("b").file, dir.file("pytorch_model-00002-of-00002.bin"));
}

}  // namespace
}  // namespace shardlm
