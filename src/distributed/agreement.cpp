// InputDigest and require_agreement (see agreement.h). FNV-1a, 64-bit, per field.
#include "distributed/agreement.h"

#include <stdexcept>

#include "core/tensor.h"
#include "distributed/process_group.h"

namespace shardlm {

void InputDigest::add(const std::string& field, std::string_view bytes) {
  auto it = fields_.begin();
  while (it != fields_.end() && it->first != field) ++it;
  if (it == fields_.end()) {
    fields_.emplace_back(field, 1469598103934665603ull);
    it = fields_.end() - 1;
  }
  uint64_t h = it->second;
  // The length first, so ("ab", "c") and ("a", "bc") differ.
  const uint64_t n = bytes.size();
  for (size_t i = 0; i < sizeof n; ++i) h = (h ^ ((n >> (8 * i)) & 0xff)) * 1099511628211ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  it->second = h;
}

void require_agreement(ProcessGroup& group, const InputDigest& digest, const std::string& what) {
  if (group.size() <= 1) return;
  const auto& f = digest.fields();
  const int64_t n = (int64_t)f.size();
  Tensor lo = Tensor::empty({n}, DType::I64), hi = Tensor::empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i)
    lo.data<int64_t>()[i] = hi.data<int64_t>()[i] = (int64_t)(f[(size_t)i].second >> 1);  // non-negative
  group.all_reduce(lo, ReduceOp::Min);
  group.all_reduce(hi, ReduceOp::Max);
  for (int64_t i = 0; i < n; ++i)
    if (lo.data<int64_t>()[i] != hi.data<int64_t>()[i])
      throw std::invalid_argument(what + ": the ranks disagree on '" + f[(size_t)i].first +
                                  "'; every rank of a tensor-parallel group must be given the same inputs "
                                  "(the same prompts, SamplingParams and engine arguments)");
}

}  // namespace shardlm
