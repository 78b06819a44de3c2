// sample_token: vLLM V1's sampling pipeline for one sequence on the CPU.
//
// After penalties and suppression, `scratch` holds the processed logits; temperature, min_p and top_k then
// turn it in place into unnormalised probabilities  w_i = exp((l_i - l_max) / T)  (0 for dropped tokens),
// top_p zeroes the tail, and one uniform draw walks the weights in token-id order. Orders among tokens
// are the strict total order "higher first, lower id on ties", so the kept sets never depend on how the
// standard library's selection algorithms arrange equal keys.
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace shardlm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A token and its logit (top_k) or weight (top_p), compared by value, then id.
struct Candidate {
  float value;
  int32_t id;
};
inline bool ranks_higher(const Candidate& a, const Candidate& b) {
  return a.value > b.value || (a.value == b.value && a.id < b.id);
}

// Work buffer reused across calls on one thread; only its capacity survives a call.
std::vector<Candidate>& candidate_buffer() {
  thread_local std::vector<Candidate> buffer;
  return buffer;
}

// log(sum(exp(logits))) of the raw logits; rejects NaN and +inf, which only a broken model produces.
double raw_log_sum_exp(const float* logits, int32_t vocab_size, const SamplingParams& params) {
  float max_logit = kNegInf;
  for (int32_t i = 0; i < vocab_size; ++i) {
    float l = logits[i];
    if (std::isnan(l)) fail_sampling(SampleFailure::NanLogit, i, l, vocab_size, params);
    if (l == std::numeric_limits<float>::infinity())
      fail_sampling(SampleFailure::InfiniteLogit, i, l, vocab_size, params);
    max_logit = std::max(max_logit, l);
  }
  if (max_logit == kNegInf) fail_sampling(SampleFailure::AllLogitsNegInf, -1, max_logit, vocab_size, params);
  double sum = 0.0;
  for (int32_t i = 0; i < vocab_size; ++i) sum += std::exp(logits[i] - max_logit);
  return (double)max_logit + std::log(sum);
}

void check_ids(const std::vector<int32_t>& ids, int32_t vocab_size, const char* what) {
  for (int32_t id : ids)
    if (id < 0 || id >= vocab_size)
      fail(what, " token id ", id, " is outside the vocabulary [0, ", vocab_size, ")");
}

// Repetition penalty over prompt+output tokens (positive logits divided, others multiplied), then
// frequency (times the count in the output) and presence (once if in the output) penalties.
void apply_penalties(std::vector<float>& logits, const SamplingParams& params,
                     const std::vector<int32_t>& prompt_ids, const std::vector<int32_t>& output_ids) {
  if (params.repetition_penalty != 1.0f) {
    std::vector<int32_t> seen(prompt_ids);
    seen.insert(seen.end(), output_ids.begin(), output_ids.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    const float penalty = params.repetition_penalty;
    for (int32_t id : seen) logits[id] = logits[id] > 0.0f ? logits[id] / penalty : logits[id] * penalty;
  }
  if (params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f) {
    std::vector<int32_t> out(output_ids);
    std::sort(out.begin(), out.end());
    for (size_t run = 0; run < out.size();) {
      size_t end = run;
      while (end < out.size() && out[end] == out[run]) ++end;
      float& l = logits[out[run]];
      l -= params.frequency_penalty * (float)(end - run);
      l -= params.presence_penalty;
      run = end;
    }
  }
}

int32_t argmax_lowest_id(const std::vector<float>& logits) {
  int32_t best = 0;
  for (int32_t i = 1; i < (int32_t)logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

// The k-th largest finite logit (top_k keeps every token at or above it, ties included, as vLLM does),
// or -inf when top_k keeps everything.
float top_k_threshold(const std::vector<float>& logits, int top_k) {
  if (top_k <= 0 || (size_t)top_k >= logits.size()) return kNegInf;
  std::vector<Candidate>& finite = candidate_buffer();
  finite.clear();
  for (int32_t i = 0; i < (int32_t)logits.size(); ++i)
    if (logits[i] != kNegInf) finite.push_back({logits[i], i});
  if ((size_t)top_k >= finite.size()) return kNegInf;
  std::nth_element(finite.begin(), finite.begin() + (top_k - 1), finite.end(), ranks_higher);
  return finite[top_k - 1].value;
}

// Turns logits into weights w = exp((l - l_max) / T) in place, zeroing tokens below the top-k threshold
// and those with w < min_p (p_i < min_p * p_max). Returns the total weight.
double to_weights(std::vector<float>& scratch, float max_logit, float temperature, float min_p,
                  float top_k_logit) {
  double total = 0.0;
  for (float& l : scratch) {
    float w = 0.0f;
    if (l != kNegInf && l >= top_k_logit) {
      w = std::exp((l - max_logit) / temperature);
      if (w < min_p) w = 0.0f;
    }
    l = w;
    total += w;
  }
  return total;
}

// Keeps the smallest set of most probable tokens whose probability reaches top_p (at least one): a token
// stays when the mass ranked strictly above it is below top_p. Quickselect on mass: halve the candidate
// range with nth_element until the cut lies in a short range, then sort only that. Returns the new total.
double apply_top_p(std::vector<float>& weights, double total, float top_p) {
  if (top_p >= 1.0f) return total;
  std::vector<Candidate>& cand = candidate_buffer();
  cand.clear();
  for (int32_t i = 0; i < (int32_t)weights.size(); ++i)
    if (weights[i] > 0.0f) cand.push_back({weights[i], i});
  double needed = (double)top_p * total;  // mass still to collect from cand[lo..)
  size_t lo = 0, hi = cand.size();
  while (hi - lo > 32) {
    const size_t mid = lo + (hi - lo) / 2;
    std::nth_element(cand.begin() + lo, cand.begin() + mid, cand.begin() + hi, ranks_higher);
    double upper = 0.0;
    for (size_t i = lo; i < mid; ++i) upper += cand[i].value;
    if (upper >= needed) {
      hi = mid;
    } else {
      needed -= upper;
      lo = mid;
    }
  }
  std::sort(cand.begin() + lo, cand.begin() + hi, ranks_higher);
  size_t cut = hi;  // if rounding leaves the range short of `needed`, keep all of it
  double mass = 0.0;
  for (size_t i = lo; i < hi; ++i) {
    mass += cand[i].value;
    if (mass >= needed) {
      cut = i + 1;
      break;
    }
  }
  for (size_t i = cut; i < cand.size(); ++i) weights[cand[i].id] = 0.0f;
  double kept_total = 0.0;
  for (float w : weights) kept_total += w;  // id order, as draw() sums
  return kept_total;
}

// One uniform draw over the weights, walking token ids in ascending order.
int32_t draw(const std::vector<float>& weights, double total, Rng& rng) {
  const double target = rng.uniform() * total;
  double mass = 0.0;
  int32_t last_positive = -1;
  for (int32_t i = 0; i < (int32_t)weights.size(); ++i) {
    if (weights[i] == 0.0f) continue;
    mass += weights[i];
    last_positive = i;
    if (target < mass) return i;
  }
  SHARDLM_CHECK(last_positive >= 0, "no token with positive weight");
  return last_positive;  // target rounded up to the total
}

std::vector<TokenLogprob> top_raw_logprobs(const float* logits, int32_t vocab_size, int requested,
                                           double log_sum_exp) {
  size_t count =
      requested == -1 ? (size_t)vocab_size : std::min<size_t>((size_t)requested, (size_t)vocab_size);
  std::vector<TokenLogprob> top;
  if (count == 0) return top;
  std::vector<Candidate>& cand = candidate_buffer();
  cand.resize(vocab_size);
  for (int32_t i = 0; i < vocab_size; ++i) cand[i] = {logits[i], i};
  std::partial_sort(cand.begin(), cand.begin() + count, cand.end(), ranks_higher);
  top.reserve(count);
  for (size_t i = 0; i < count; ++i)
    top.push_back({cand[i].id, (float)((double)cand[i].value - log_sum_exp)});
  return top;
}

// vLLM's rank: the number of tokens at least as probable as `token` (itself included).
int32_t rank_of(const float* logits, int32_t vocab_size, int32_t token) {
  const float own = logits[token];
  int32_t rank = 0;
  for (int32_t i = 0; i < vocab_size; ++i) rank += logits[i] >= own ? 1 : 0;
  return rank;
}

}  // namespace

void fail_sampling(SampleFailure why, int32_t token, float value, int32_t vocab_size, const SamplingParams& params) {
  switch (why) {
    case SampleFailure::NanLogit:
      fail("the model produced NaN logits (token id ", token, " of vocab_size ", vocab_size, ")");
    case SampleFailure::InfiniteLogit:
      fail("the model produced an infinite logit (token id ", token, " of vocab_size ", vocab_size, ")");
    case SampleFailure::AllLogitsNegInf:
      fail("every logit is -inf (vocab_size ", vocab_size, "): nothing can be sampled");
    case SampleFailure::AllSuppressed:
      fail("every token is suppressed (vocab_size ", vocab_size, "): nothing can be sampled");
    case SampleFailure::PenalisedNotFinite:
      fail("penalised logit of token ", token, " is ", value, ": repetition_penalty ", params.repetition_penalty,
           " is too small for these logits");
  }
  fail("unknown sampling failure ", (int)why);
}

SampleResult sample_token(const float* logits, int32_t vocab_size, const SamplingParams& params,
                          const std::vector<int32_t>& prompt_ids, const std::vector<int32_t>& output_ids,
                          const std::vector<int32_t>& suppressed_ids, Rng& rng, std::vector<float>& scratch) {
  if (logits == nullptr || vocab_size <= 0) fail("sample_token: no logits (vocab_size ", vocab_size, ")");
  check_ids(prompt_ids, vocab_size, "prompt");
  check_ids(output_ids, vocab_size, "output");
  const double log_sum_exp = raw_log_sum_exp(logits, vocab_size, params);

  scratch.assign(logits, logits + vocab_size);
  if (params.allowed_token_ids) {
    std::vector<float> kept(scratch.size(), kNegInf);
    for (int32_t id : *params.allowed_token_ids)
      if (id >= 0 && id < vocab_size) kept[id] = scratch[id];
    scratch.swap(kept);
  }
  for (const auto& [id, bias] : params.logit_bias)
    if (id >= 0 && id < vocab_size) scratch[id] += bias;
  apply_penalties(scratch, params, prompt_ids, output_ids);
  for (int32_t id : suppressed_ids)
    if (id >= 0 && id < vocab_size) scratch[id] = kNegInf;

  const int32_t best = argmax_lowest_id(scratch);
  const float max_logit = scratch[best];
  if (max_logit == kNegInf) fail_sampling(SampleFailure::AllSuppressed, -1, max_logit, vocab_size, params);
  if (!std::isfinite(max_logit))
    fail_sampling(SampleFailure::PenalisedNotFinite, best, max_logit, vocab_size, params);

  int32_t token = best;
  if (!params.greedy()) {
    const float temperature = std::max(params.temperature, kMinSamplingTemperature);
    const float top_k_logit = top_k_threshold(scratch, params.top_k);
    double total = to_weights(scratch, max_logit, temperature, params.min_p, top_k_logit);
    total = apply_top_p(scratch, total, params.top_p);
    token = draw(scratch, total, rng);
  }

  SampleResult result;
  result.token = token;
  result.logprob = (float)((double)logits[token] - log_sum_exp);
  if (params.logprobs) {
    result.rank = rank_of(logits, vocab_size, token);
    result.top = top_raw_logprobs(logits, vocab_size, *params.logprobs, log_sum_exp);
  }
  return result;
}

PositionLogprobs position_logprobs(const float* logits, int32_t vocab_size, int32_t token, int num_top,
                                   const SamplingParams& params) {
  SHARDLM_CHECK(token >= 0 && token < vocab_size, "position_logprobs: token ", token, " outside the vocabulary");
  const double log_sum_exp = raw_log_sum_exp(logits, vocab_size, params);
  PositionLogprobs out;
  out.logprob = (float)((double)logits[token] - log_sum_exp);
  out.rank = rank_of(logits, vocab_size, token);
  out.top = top_raw_logprobs(logits, vocab_size, num_top, log_sum_exp);
  return out;
}

}  // namespace shardlm
