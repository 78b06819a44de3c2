// Chi-square goodness-of-fit helpers for the sampler's statistical tests: the statistic and the critical
// value at a given false-failure probability, from the regularized upper incomplete gamma function.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace shardlm::testing {

// Q(a, x) = Gamma(a, x) / Gamma(a): series for P when x < a + 1, Lentz continued fraction otherwise.
inline double upper_incomplete_gamma_q(double a, double x) {
  if (x <= 0.0) return 1.0;
  const double log_prefactor = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1.0) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 10000 && std::fabs(term) > 1e-17 * std::fabs(sum); ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_prefactor);
  }
  const double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < 1e-16) break;
  }
  return std::exp(log_prefactor) * h;
}

// Survival function of the chi-square distribution with `dof` degrees of freedom.
inline double chi_square_sf(double x, int dof) { return upper_incomplete_gamma_q(dof / 2.0, x / 2.0); }

// The x with chi_square_sf(x, dof) == p_value (bisection).
inline double chi_square_critical(int dof, double p_value) {
  double lo = 0.0, hi = 1.0;
  while (chi_square_sf(hi, dof) > p_value) hi *= 2.0;
  for (int i = 0; i < 200; ++i) {
    double mid = 0.5 * (lo + hi);
    (chi_square_sf(mid, dof) > p_value ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

struct ChiSquare {
  double statistic = 0.0;
  int dof = 0;
};

// Pearson's statistic over the categories with positive expected probability.
inline ChiSquare chi_square(const std::vector<int64_t>& counts, const std::vector<double>& expected_probs) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  ChiSquare out;
  int categories = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected_probs[i] <= 0.0) continue;
    double expected = expected_probs[i] * (double)total;
    double diff = (double)counts[i] - expected;
    out.statistic += diff * diff / expected;
    ++categories;
  }
  out.dof = categories - 1;
  return out;
}

}  // namespace shardlm::testing
