// Rng: a small deterministic PRNG (xoshiro256**, state seeded by splitmix64). The same seed gives the same
// stream on every machine and compiler: no <random> distributions, whose outputs are
// implementation-defined. Plain value type: copying it forks the stream.
#pragma once
#include <array>
#include <cstdint>

namespace shardlm {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t next_u64();
  // Uniform in [0, 1): the top 53 bits of next_u64() scaled by 2^-53, so every value is exact.
  double uniform();

  bool operator==(const Rng& other) const = default;

 private:
  std::array<uint64_t, 4> state_;
};

// One step of splitmix64 (Steele, Lea, Flood 2014): advances `state` and returns the mixed output.
uint64_t splitmix64_next(uint64_t& state);

}  // namespace shardlm
