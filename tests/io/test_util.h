// Small helpers shared by the io tests: byte packing (error-message expectations: common/expect_error.h).
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "core/error.h"

namespace shardlm::testing {

inline void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back((char)((v >> (8 * i)) & 0xFF));
}

// Little-endian bytes of float values (the test machines are little-endian, as is every checkpoint).
inline std::string f32_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

// [u64 header length][header][data]
inline std::string safetensors_bytes(const std::string& header_json, const std::string& data) {
  std::string out;
  put_le(out, header_json.size(), 8);
  return out + header_json + data;
}

}  // namespace shardlm::testing
