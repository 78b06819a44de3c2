// Ranks that must compute the same thing check that they were given the same inputs: each rank hashes its
// inputs field by field, the group takes the minimum and maximum of every hash, and a field whose minimum and
// maximum differ fails every rank with the same error naming it (vLLM issue 15895: a per-rank seed or prompt
// list gave garbled text on one rank with exit 0). One fixed-size collective, the same on every rank, so a
// disagreement is caught before the ranks' collectives could diverge.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardlm {

class ProcessGroup;

class InputDigest {
 public:
  // Adds `bytes` to the named field's hash (fields are created in the order first named; every rank must
  // name the same fields in the same order — the code does, whatever the inputs).
  void add(const std::string& field, std::string_view bytes);
  template <typename T>
  void add_value(const std::string& field, const T& v) {
    add(field, std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
  }
  const std::vector<std::pair<std::string, uint64_t>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, uint64_t>> fields_;
};

// Throws std::invalid_argument on every rank of `group` when any field differs between its ranks:
// "<what>: ranks disagree on '<field>' ...". No-op for a group of one.
void require_agreement(ProcessGroup& group, const InputDigest& digest, const std::string& what);

}  // namespace shardlm
