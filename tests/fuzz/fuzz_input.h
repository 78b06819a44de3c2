// What the fuzz targets share. Each target is one LLVMFuzzerTestOneInput: built with clang's libFuzzer by
// scripts/fuzz.sh (tests/fuzz/CMakeLists.txt), and in every normal build as a replay program that feeds it
// the files of its corpus (tests/fuzz/corpus/<target>/, run by ctest, under ASan+UBSan in CI's second build).
// A parser may refuse an input only with shardlm::Error (one clear message); any other exception escapes
// the target and counts as a finding, as do crashes, sanitizer reports, timeouts and runaway memory.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace shardlm::fuzz {

// A folder of this process's own under the system temp dir, for targets whose parser reads files.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("shardlm-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return d;
  }();
  return dir;
}

// Writes the input to scratch_dir()/name and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::filesystem::path p = scratch_dir() / name;
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), (std::streamsize)size);
  return p.string();
}

// Runs `parse`; a shardlm::Error is the expected refusal of a bad input.
template <typename F>
int refuse_only_with_error(F&& parse) {
  try {
    parse();
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace shardlm::fuzz
