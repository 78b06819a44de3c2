#include "random_dataset.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

namespace shardlm::cli {

namespace {

constexpr int64_t kFirstOrdinaryId = 4;  // ids below are usually specials (pad, bos, eos, unk)

struct LengthRange {
  int64_t low, high;
};

LengthRange around(int64_t len, double ratio, int64_t at_least) {
  return {std::max<int64_t>(at_least, (int64_t)std::floor((double)len * (1.0 - ratio))),
          std::max<int64_t>(at_least, (int64_t)std::ceil((double)len * (1.0 + ratio)))};
}

}  // namespace

std::vector<BenchRequest> sample_random_requests(const RandomDataset& d, int64_t vocab_size) {
  if (!(d.range_ratio >= 0.0 && d.range_ratio < 1.0))
    throw std::invalid_argument("--random-range-ratio must be in [0, 1), got " + std::to_string(d.range_ratio));
  if (d.input_len < 0 || d.output_len < 1 || d.prefix_len < 0 || d.num_requests < 1)
    throw std::invalid_argument("the random dataset needs an input length >= 0, an output length >= 1, a prefix "
                                "length >= 0 and at least one request");
  const LengthRange in = around(d.input_len, d.range_ratio, 0), out = around(d.output_len, d.range_ratio, 1);
  if (d.prefix_len + in.low < 1)
    throw std::invalid_argument("--random-input-len is too small: with --random-range-ratio " +
                                std::to_string(d.range_ratio) + " and --random-prefix-len " +
                                std::to_string(d.prefix_len) + " a prompt could be empty");
  std::mt19937_64 gen(d.seed);
  const uint64_t ordinary = (uint64_t)std::max<int64_t>(1, vocab_size - kFirstOrdinaryId);
  auto token = [&] { return (int32_t)(kFirstOrdinaryId + (int64_t)(gen() % ordinary)); };
  auto length = [&](LengthRange r) { return std::uniform_int_distribution<int64_t>(r.low, r.high)(gen); };
  // Lengths first (as vLLM draws them), so that a prefix changes no request's lengths.
  std::vector<int64_t> input_lens, output_lens;
  for (int i = 0; i < d.num_requests; ++i) input_lens.push_back(length(in));
  for (int i = 0; i < d.num_requests; ++i) output_lens.push_back(length(out));
  std::vector<int32_t> prefix((size_t)d.prefix_len);
  for (auto& id : prefix) id = token();
  std::vector<BenchRequest> requests;
  requests.reserve((size_t)d.num_requests);
  for (int i = 0; i < d.num_requests; ++i) {
    std::vector<int32_t> ids = prefix;
    for (int64_t j = 0; j < input_lens[(size_t)i]; ++j) ids.push_back(token());
    BenchRequest r;
    r.prompt_len = (int)ids.size();
    r.output_len = (int)output_lens[(size_t)i];
    r.prompt = Prompt::from_token_ids(std::move(ids));
    requests.push_back(std::move(r));
  }
  return requests;
}

}  // namespace shardlm::cli
