// Helpers for the CPU kernel tests: seeded random data, exact dtype round trips, normalised error against a
// double-precision reference, and the kernel variants this processor can run.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "ops/cpu/isa.h"

namespace shardlm::testing {

inline std::vector<float> random_floats(size_t n, uint64_t seed, float stddev = 1.f) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> dist(0.f, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// Weights in dtype `dt`: `stored` holds the raw elements, `values` their exact f32 values.
struct StoredWeights {
  std::vector<uint8_t> stored;
  std::vector<float> values;
};

inline StoredWeights store_as(const std::vector<float>& w, DType dt) {
  StoredWeights s;
  s.stored.resize(w.size() * dtype_size(dt));
  convert_from_f32(w.data(), s.stored.data(), dt, w.size());
  s.values.resize(w.size());
  convert_to_f32(s.stored.data(), dt, s.values.data(), w.size());
  return s;
}

// ||got - want||_2 / ||want||_2
inline double normalised_error(const float* got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

inline std::vector<cpu::Isa> runnable_isas() {
  std::vector<cpu::Isa> v = {cpu::Isa::Portable};
  if (cpu::detected_isa() == cpu::Isa::Avx2) v.push_back(cpu::Isa::Avx2);
  return v;
}

}  // namespace shardlm::testing
