// sample_batch: host rows through sample_token; GPU rows packed, sampled by the CUDA kernel, unpacked in
// row order so that errors and Rng advances match the one-row-at-a-time CPU loop.
#include "engine/device_sampler.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace shardlm {
namespace {

// Rows the GPU kernel does not handle: logprobs (top ones and the sampled token's rank), logit_bias and
// allowed_token_ids are applied on the host.
bool needs_host(const SamplingParams& params) {
  return params.logprobs || !params.logit_bias.empty() || params.allowed_token_ids;
}

bool ids_in_vocab(const std::vector<int32_t>& ids, int32_t vocab_size) {
  return std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return id >= 0 && id < vocab_size; });
}

// The row's entries, sorted by token, one per token; appended to `out`.
void append_entries(const SampleRow& row, bool repetition, bool freq_presence, int32_t vocab_size,
                    std::vector<cuda::SampleEntry>& out) {
  const size_t begin = out.size();
  if (repetition)
    for (int32_t id : *row.prompt_ids) out.push_back({id, 0, cuda::kEntryInPrompt});
  if (repetition || freq_presence)
    for (int32_t id : *row.output_ids) out.push_back({id, 1, 0});
  for (int32_t id : row.suppressed_ids)
    if (id >= 0 && id < vocab_size) out.push_back({id, 0, cuda::kEntrySuppressed});
  auto first = out.begin() + (ptrdiff_t)begin;
  std::sort(first, out.end(), [](const cuda::SampleEntry& a, const cuda::SampleEntry& b) { return a.token < b.token; });
  // Merge runs of one token: counts add up, flags combine.
  auto merged = first;
  for (auto it = first; it != out.end(); ++it) {
    if (it != first && merged->token == it->token) {
      merged->output_count += it->output_count;
      merged->flags |= it->flags;
    } else {
      if (it != first) ++merged;
      *merged = *it;
    }
  }
  if (first != out.end()) out.erase(merged + 1, out.end());
}

cuda::SampleRowParams row_params(const SamplingParams& params, int32_t logits_row, int32_t vocab_size) {
  cuda::SampleRowParams p{};
  p.logits_row = logits_row;
  p.flags = (params.greedy() ? cuda::kSampleGreedy : 0u) |
            (params.repetition_penalty != 1.0f ? cuda::kSampleRepetition : 0u) |
            (params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f ? cuda::kSampleFreqPresence : 0u);
  p.temperature = std::max(params.temperature, kMinSamplingTemperature);
  p.top_k = params.top_k <= 0 || params.top_k >= vocab_size ? 0 : params.top_k;
  p.top_p = params.top_p;
  p.min_p = params.min_p;
  p.repetition_penalty = params.repetition_penalty;
  p.frequency_penalty = params.frequency_penalty;
  p.presence_penalty = params.presence_penalty;
  return p;
}

std::vector<SampleResult> sample_on_host(const Tensor& logits, const std::vector<SampleRow>& rows,
                                         std::vector<float>& scratch) {
  const int32_t vocab = (int32_t)logits.dim(1);
  std::vector<SampleResult> results;
  results.reserve(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    const SampleRow& r = rows[k];
    results.push_back(sample_token(logits.data<float>() + (int64_t)k * vocab, vocab, *r.params, *r.prompt_ids,
                                   *r.output_ids, r.suppressed_ids, *r.rng, scratch));
  }
  return results;
}

#if SHARDLM_HAVE_CUDA
std::vector<SampleResult> sample_on_gpu(const Tensor& logits, const std::vector<SampleRow>& rows,
                                        std::vector<float>& scratch) {
  const int32_t vocab = (int32_t)logits.dim(1);
  const PackedSampleBatch packed = pack_sample_batch(rows, vocab);

  std::vector<cuda::SampleRowResult> gpu_results((size_t)packed.num_rows);
  if (packed.num_rows > 0) {
    Tensor host_in = Tensor::empty({(int64_t)packed.bytes.size()}, DType::U8);
    std::memcpy(host_in.raw(), packed.bytes.data(), packed.bytes.size());
    const Tensor device_in = host_in.to(Device::CUDA);
    Tensor device_out =
        Tensor::empty({(int64_t)packed.num_rows * (int64_t)sizeof(cuda::SampleRowResult)}, DType::U8, Device::CUDA);
    cuda::sample_rows(logits, device_in, packed.num_rows, packed.num_entries, device_out);
    const Tensor host_out = device_out.to(Device::CPU);
    std::memcpy(gpu_results.data(), host_out.raw(), host_out.nbytes());
  }

  // Host rows: one copy of the row range they span.
  int64_t first_host = -1, last_host = -1;
  for (size_t k = 0; k < rows.size(); ++k) {
    if (packed.packed_row[k] >= 0) continue;
    if (first_host < 0) first_host = (int64_t)k;
    last_host = (int64_t)k;
  }
  Tensor host_rows;
  if (first_host >= 0) host_rows = logits.slice_rows(first_host, last_host - first_host + 1).to(Device::CPU);

  std::vector<SampleResult> results;
  results.reserve(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    const SampleRow& r = rows[k];
    if (packed.packed_row[k] < 0) {
      const float* row = host_rows.data<float>() + ((int64_t)k - first_host) * vocab;
      results.push_back(
          sample_token(row, vocab, *r.params, *r.prompt_ids, *r.output_ids, r.suppressed_ids, *r.rng, scratch));
    } else {
      results.push_back(unpack_sample_result(gpu_results[(size_t)packed.packed_row[k]], vocab, *r.params));
      *r.rng = packed.rng_after[k];
    }
  }
  return results;
}
#endif

}  // namespace

const cuda::SampleRowParams& PackedSampleBatch::params(int32_t packed) const {
  SHARDLM_CHECK(packed >= 0 && packed < num_rows, "packed row ", packed, " of ", num_rows);
  return reinterpret_cast<const cuda::SampleRowParams*>(bytes.data())[packed];
}

const cuda::SampleEntry* PackedSampleBatch::entries() const {
  return reinterpret_cast<const cuda::SampleEntry*>(bytes.data() + (size_t)num_rows * sizeof(cuda::SampleRowParams));
}

PackedSampleBatch pack_sample_batch(const std::vector<SampleRow>& rows, int32_t vocab_size) {
  PackedSampleBatch packed;
  std::vector<cuda::SampleRowParams> params;
  std::vector<cuda::SampleEntry> entries;
  packed.packed_row.assign(rows.size(), -1);
  packed.rng_after.reserve(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    const SampleRow& r = rows[k];
    packed.rng_after.push_back(*r.rng);
    if (needs_host(*r.params) || !ids_in_vocab(*r.prompt_ids, vocab_size) ||
        !ids_in_vocab(*r.output_ids, vocab_size))
      continue;
    cuda::SampleRowParams p = row_params(*r.params, (int32_t)k, vocab_size);
    p.entries_begin = (int32_t)entries.size();
    append_entries(r, p.flags & cuda::kSampleRepetition, p.flags & cuda::kSampleFreqPresence, vocab_size, entries);
    p.entries_end = (int32_t)entries.size();
    if (!(p.flags & cuda::kSampleGreedy)) p.uniform = packed.rng_after.back().uniform();
    packed.packed_row[k] = (int32_t)params.size();
    params.push_back(p);
  }
  packed.num_rows = (int32_t)params.size();
  packed.num_entries = (int32_t)entries.size();
  const size_t params_bytes = params.size() * sizeof(cuda::SampleRowParams);
  packed.bytes.resize(params_bytes + entries.size() * sizeof(cuda::SampleEntry));
  if (!params.empty()) std::memcpy(packed.bytes.data(), params.data(), params_bytes);
  if (!entries.empty())
    std::memcpy(packed.bytes.data() + params_bytes, entries.data(), entries.size() * sizeof(cuda::SampleEntry));
  return packed;
}

SampleResult unpack_sample_result(const cuda::SampleRowResult& result, int32_t vocab_size,
                                  const SamplingParams& params) {
  const int32_t id = result.detail_token;
  const float value = result.detail_value;
  switch (result.status) {
    case cuda::kSampleOk:
      SHARDLM_CHECK(result.token >= 0 && result.token < vocab_size, "GPU sampler returned token ", result.token);
      return SampleResult{result.token, result.logprob, 0, {}};
    case cuda::kSampleNanLogit: fail_sampling(SampleFailure::NanLogit, id, value, vocab_size, params);
    case cuda::kSampleInfiniteLogit: fail_sampling(SampleFailure::InfiniteLogit, id, value, vocab_size, params);
    case cuda::kSampleAllLogitsNegInf: fail_sampling(SampleFailure::AllLogitsNegInf, id, value, vocab_size, params);
    case cuda::kSampleAllSuppressed: fail_sampling(SampleFailure::AllSuppressed, id, value, vocab_size, params);
    case cuda::kSamplePenalisedNotFinite:
      fail_sampling(SampleFailure::PenalisedNotFinite, id, value, vocab_size, params);
    default: break;  // kSampleInternal, or a status this host does not know
  }
  fail("internal error in the GPU sampler (status ", result.status, "): no token could be drawn");
}

std::vector<SampleResult> sample_batch(const Tensor& logits, const std::vector<SampleRow>& rows,
                                       std::vector<float>& scratch) {
  if (rows.empty()) return {};
  if (logits.dtype() != DType::F32 || logits.ndim() != 2 || logits.dim(0) != (int64_t)rows.size())
    fail("sample_batch: logits must be f32 [", rows.size(), ", vocab_size], got ", dtype_name(logits.dtype()), " ",
         logits.shape_str());
  switch (logits.device()) {
    case Device::CPU: return sample_on_host(logits, rows, scratch);
    case Device::CUDA:
#if SHARDLM_HAVE_CUDA
      return sample_on_gpu(logits, rows, scratch);
#else
      break;
#endif
  }
  fail("sample_batch: logits on ", device_name(logits.device()), " but this build has no sampler for it");
}

}  // namespace shardlm
