// Corrupt checkpoints that used to load the wrong bytes without a word, or hang: safetensors tensors sharing
// bytes, zip entries aliased onto one local header or running into each other, local headers whose lengths
// were changed, and a FIFO (or directory, or device) where the weights or a config file should be.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "io/hf_cache.h"
#include "io/json_file.h"
#include "io/mapped_file.h"
#include "io/weight_store.h"
#include "io/zip_reader.h"
#include "pickle_builder.h"
#include "temp_dir.h"
#include "test_util.h"
#include "zip_writer.h"

namespace shardlm {
namespace {

using testing::expect_error;
using testing::expect_error_without_blocking;
using testing::expect_no_blocking;
using testing::f32_bytes;
using testing::safetensors_bytes;
using testing::TempDir;
using testing::TorchTensorSpec;

// --- safetensors ----------------------------------------------------------------------------------------

TEST(CorruptCheckpoint, SafetensorsTensorsSharingBytesAreRefused) {
  const std::string data = f32_bytes({1, 2, 3, 4, 5, 6});
  {
    TempDir dir;  // "b" starts inside "a"
    dir.write("model.safetensors",
              safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                    "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
                                data));
    expect_error([&] { WeightStore::open(dir.path()); },
                 {dir.file("model.safetensors"), "'a'", "'b'", "share bytes [8, 16)", "corrupt"});
  }
  {
    TempDir dir;  // the same bytes under two names
    dir.write("model.safetensors",
              safetensors_bytes(R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                    "y": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]},
                                    "z": {"dtype": "F32", "shape": [2, 1], "data_offsets": [16, 24]}})",
                                data));
    expect_error([&] { WeightStore::open(dir.path()); },
                 {dir.file("model.safetensors"), "'y'", "'z'", "share bytes [16, 24)"});
  }
  {
    TempDir dir;  // one tensor inside a bigger one, listed first
    dir.write("model.safetensors",
              safetensors_bytes(R"({"inner": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                                    "outer": {"dtype": "F32", "shape": [6], "data_offsets": [0, 24]}})",
                                data));
    expect_error([&] { WeightStore::open(dir.path()); }, {"'inner'", "'outer'", "share bytes [4, 8)"});
  }
}

TEST(CorruptCheckpoint, SafetensorsAdjacentAndEmptyTensorsStillLoad) {
  TempDir dir;  // back to back, out of order in the header, a gap, and empty tensors anywhere
  dir.write("model.safetensors",
            safetensors_bytes(R"({"b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
                                  "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "c": {"dtype": "F32", "shape": [1], "data_offsets": [20, 24]},
                                  "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
                                  "f": {"dtype": "F32", "shape": [0, 3], "data_offsets": [8, 8]}})",
                              f32_bytes({1, 2, 3, 4, 5, 6})));
  auto store = WeightStore::open(dir.path());
  EXPECT_EQ(store->names().size(), 5u);
  EXPECT_EQ(*reinterpret_cast<const float*>(store->get("c").raw()), 6.0f);
}

// --- zip (pytorch_model.bin) ------------------------------------------------------------------------------

uint64_t get_le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | (unsigned char)s[at + (size_t)i];
  return v;
}
void set_le(std::string& s, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[at + (size_t)i] = (char)((v >> (8 * i)) & 0xFF);
}
// The central-directory header of `name` (its name's last copy in the archive) and its local header (the first).
size_t central_header(const std::string& zip, const std::string& name) {
  const size_t at = zip.rfind(name) - 46;
  EXPECT_EQ(get_le(zip, at, 4), 0x02014b50u) << name;
  return at;
}
size_t local_header(const std::string& zip, const std::string& name) {
  const size_t at = zip.find(name) - 30;
  EXPECT_EQ(get_le(zip, at, 4), 0x04034b50u) << name;
  return at;
}
// Sets an entry's compressed and uncompressed sizes in the central directory.
void set_central_sizes(std::string& zip, const std::string& name, uint64_t bytes) {
  set_le(zip, central_header(zip, name) + 20, bytes, 4);
  set_le(zip, central_header(zip, name) + 24, bytes, 4);
}

// Storage "0" holds w = [1..8] (32 bytes), storage "1" holds h = two halves {1, -2} (4 bytes).
std::string sample_archive() {
  const std::vector<TorchTensorSpec> specs = {{"w", "FloatStorage", "0", 8, 0, {8}, {1}},
                                              {"h", "HalfStorage", "1", 2, 0, {2}, {1}}};
  return testing::torch_zip("pytorch_model", testing::torch_state_dict_pickle(specs, true),
                            {{"0", f32_bytes({1, 2, 3, 4, 5, 6, 7, 8})}, {"1", std::string("\x00\x3c\x00\xc0", 4)}});
}

TEST(CorruptCheckpoint, SampleArchiveLoads) {
  TempDir dir;
  dir.write("pytorch_model.bin", sample_archive());
  auto store = WeightStore::open(dir.path());
  EXPECT_EQ(store->names(), (std::vector<std::string>{"h", "w"}));
  EXPECT_EQ(std::memcmp(store->get("h").raw(), "\x00\x3c\x00\xc0", 4), 0);
}

TEST(CorruptCheckpoint, AliasedZipEntriesAreRefused) {
  {
    // Two central-directory entries pointing at one local header: "data/1" would read "data/0"'s bytes.
    TempDir dir;
    std::string zip = sample_archive();
    set_le(zip, central_header(zip, "pytorch_model/data/1") + 42,
           get_le(zip, central_header(zip, "pytorch_model/data/0") + 42, 4), 4);
    dir.write("pytorch_model.bin", zip);
    expect_error([&] { WeightStore::open(dir.path()); },
                 {dir.file("pytorch_model.bin"), "corrupt zip archive", "entry 'pytorch_model/data/1'",
                  "names 'pytorch_model/data/0'"});
  }
  {
    // Two entries of one name (the second used to replace the first silently).
    TempDir dir;
    dir.write("pytorch_model.bin", testing::make_zip({{"a/data.pkl", "\x80\x02}."}, {"a/data.pkl", "\x80\x02N."}}));
    expect_error([&] { WeightStore::open(dir.path()); },
                 {dir.file("pytorch_model.bin"), "two entries are named 'a/data.pkl'"});
  }
}

TEST(CorruptCheckpoint, ZipEntriesRunningIntoEachOtherAreRefused) {
  {
    // "data/0" claims 8 bytes more than it has, so it runs over the local header of "data/1".
    TempDir dir;
    std::string zip = sample_archive();
    set_central_sizes(zip, "pytorch_model/data/0", 40);
    dir.write("pytorch_model.bin", zip);
    expect_error([&] { WeightStore::open(dir.path()); },
                 {dir.file("pytorch_model.bin"), "entry 'pytorch_model/data/0'", "overlaps entry 'pytorch_model/data/1'"});
  }
  {
    // The last entry runs into the central directory.
    TempDir dir;
    std::string zip = testing::make_zip({{"a/b", "12345678"}});
    set_central_sizes(zip, "a/b", 12);
    const std::string path = dir.write("x.zip", zip);
    expect_error([&] { ZipReader reader(MappedFile::open(path)); },
                 {path, "zip entry 'a/b'", "runs into the central directory"});
  }
}

TEST(CorruptCheckpoint, CorruptLocalHeaderLengthsAreRefused) {
  {
    // The name length of "data/1"'s local header one more: its bytes would start one byte late.
    TempDir dir;
    std::string zip = sample_archive();
    const size_t at = local_header(zip, "pytorch_model/data/1");
    set_le(zip, at + 26, get_le(zip, at + 26, 2) + 1, 2);
    dir.write("pytorch_model.bin", zip);
    expect_error([&] { WeightStore::open(dir.path()); },
                 {dir.file("pytorch_model.bin"), "local header", "entry 'pytorch_model/data/1'"});
  }
  for (int delta : {-2, +4}) {
    // The extra-field length (torch.save's alignment padding) changed: the bytes would start elsewhere.
    SCOPED_TRACE(delta);
    TempDir dir;
    std::string zip = sample_archive();
    const size_t at = local_header(zip, "pytorch_model/data/0");
    set_le(zip, at + 28, get_le(zip, at + 28, 2) + (uint64_t)delta, 2);
    dir.write("pytorch_model.bin", zip);
    expect_error([&] { WeightStore::open(dir.path()); },
                 {dir.file("pytorch_model.bin"), "entry 'pytorch_model/data/0'", "extra field"});
  }
}

// --- files that are not regular files --------------------------------------------------------------------

TEST(CorruptCheckpoint, FifoAsWeightsIsRefusedAtOnce) {
  for (const char* name : {"model.safetensors", "pytorch_model.bin"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    const std::string fifo = dir.file(name);
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    expect_error_without_blocking(fifo, [&] { WeightStore::open(dir.path()); },
                                  {fifo, "is a FIFO (named pipe), not a regular file"});
  }
}

TEST(CorruptCheckpoint, FifoAsConfigIsRefusedAtOnce) {
  TempDir dir;
  const std::string fifo = dir.file("config.json");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error_without_blocking(fifo, [&] { read_json_file(fifo, "model config"); },
                                {"model config", fifo, "is a FIFO (named pipe), not a regular file"});
  TempDir sharded;  // the index of a sharded checkpoint goes through read_json_file too
  const std::string index = sharded.file("model.safetensors.index.json");
  ASSERT_EQ(::mkfifo(index.c_str(), 0600), 0);
  expect_error_without_blocking(index, [&] { WeightStore::open(sharded.path()); }, {index, "FIFO"});
}

TEST(CorruptCheckpoint, FifoAsHubCacheRefIsIgnored) {
  TempDir cache;  // refs/main a FIFO: the lookup falls back to the newest snapshot instead of blocking
  cache.write("models--org--m/snapshots/abc/config.json", "{}");
  const std::string ref = cache.file("models--org--m/refs/main");
  std::filesystem::create_directories(cache.file("models--org--m/refs"));
  ASSERT_EQ(::mkfifo(ref.c_str(), 0600), 0);
  const char* old = std::getenv("HF_HUB_CACHE");
  const std::string saved = old ? old : "";
  ::setenv("HF_HUB_CACHE", cache.path().c_str(), 1);
  expect_no_blocking(ref, [&] { EXPECT_EQ(resolve_model_path("org/m"), cache.file("models--org--m/snapshots/abc")); });
  if (old) {
    ::setenv("HF_HUB_CACHE", saved.c_str(), 1);
  } else {
    ::unsetenv("HF_HUB_CACHE");
  }
}

TEST(CorruptCheckpoint, DirectoriesAndDevicesAsWeightsAreRefused) {
  {
    TempDir dir;
    std::filesystem::create_directory(dir.file("model.safetensors"));
    expect_error([&] { WeightStore::open(dir.path()); },
                 {dir.file("model.safetensors"), "is a directory, not a regular file"});
  }
  {
    TempDir dir;
    std::filesystem::create_symlink("/dev/null", dir.file("model.safetensors"));
    expect_error([&] { WeightStore::open(dir.path()); },
                 {dir.file("model.safetensors"), "is a character device, not a regular file"});
  }
  {
    TempDir dir;  // a symlink to a regular file is followed
    const std::string real = dir.write("real.json", "{\"a\": 1}");
    std::filesystem::create_symlink(real, dir.file("config.json"));
    EXPECT_EQ(read_json_file(dir.file("config.json"), "model config")["a"], 1);
    EXPECT_EQ(read_regular_file(real), "{\"a\": 1}");
  }
}

}  // namespace
}  // namespace shardlm
