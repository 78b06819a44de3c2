// The op profiler: pending (key, start, stop) marks are resolved once their device has passed them, summed
// per key, and printed as one table. See op_profile.h.
#include "ops/op_profile.h"

#include "core/env_vars.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>

namespace shardlm::op_profile {

namespace {

// The CPU's clock: ops there return when their work is done, so the host's clock is the device's.
class HostClock final : public Clock {
 public:
  void* mark() override { return new Time(std::chrono::steady_clock::now()); }
  double elapsed_ms(void* from, void* to) override {
    return std::chrono::duration<double, std::milli>(*static_cast<Time*>(to) - *static_cast<Time*>(from)).count();
  }
  void release(void* token) override { delete static_cast<Time*>(token); }

 private:
  using Time = std::chrono::steady_clock::time_point;
};

struct Totals {
  int64_t calls = 0;
  double ms = 0;
};

struct Pending {
  Clock* clock;
  void* start;
  void* stop;
  std::string key;
};

// Marks are resolved in batches: each resolution waits for its device, so doing it per op would serialise
// the host with the GPU.
constexpr size_t kResolveEvery = 4096;

struct State {
  std::mutex mu;
  Clock* clocks[2] = {nullptr, nullptr};
  std::deque<Pending> pending;
  std::map<std::string, Totals> totals;
  bool written = false;

  void resolve_locked() {
    for (Pending& p : pending) {
      Totals& t = totals[p.key];
      t.calls += 1;
      t.ms += p.clock->elapsed_ms(p.start, p.stop);
      p.clock->release(p.start);
      p.clock->release(p.stop);
    }
    pending.clear();
  }
};

State& state() {
  static State* s = [] {
    auto* st = new State();  // leaked: read by the exit hook after static destruction may have begun
    static HostClock host;
    st->clocks[(int)Device::CPU] = &host;
    return st;
  }();
  return *s;
}

std::string& setting_storage() {
  static std::string* v = [] {
    const std::string e = env_value("SHARDLM_PROFILE_OPS").value_or("");
    return new std::string(e == "0" ? "" : e);
  }();
  return *v;
}
const char* setting() { return setting_storage().empty() ? nullptr : setting_storage().c_str(); }

std::string shape(const Tensor& t) { return t.shape_str(); }

// Every op timed and forwarded; the key names the op and the sizes that decide its cost.
class ProfiledBackend final : public Backend {
 public:
  ProfiledBackend(Device d, Backend& inner) : d_(d), inner_(inner) {}

  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) override {
    Scope s(d_, [&] {
      return "linear M" + rows_bucket(x.dim(0)) + " N=" + std::to_string(w.dim(0)) + " K=" + std::to_string(w.dim(1));
    });
    inner_.linear(x, w, bias, y);
  }
  void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                    Tensor& scales) override {
    Scope s(d_, [&] { return rows_key("quantize_fp8", x); });
    inner_.quantize_fp8(x, act, group, input_scale, q, scales);
  }
  void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y) override {
    Scope s(d_, [&] {
      return "linear_fp8 M" + rows_bucket(x.dim(0)) + " N=" + std::to_string(w.weight.dim(0)) +
             " K=" + std::to_string(w.weight.dim(1));
    });
    inner_.linear_fp8(x, w, bias, y);
  }
  void layer_norm(const Tensor& x, const Tensor* w, const Tensor* b, float eps, Tensor& y) override {
    Scope s(d_, [&] { return rows_key("layer_norm", x); });
    inner_.layer_norm(x, w, b, eps, y);
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override {
    Scope s(d_, [&] { return rows_key("rms_norm", x); });
    inner_.rms_norm(x, w, eps, y);
  }
  void add_inplace(Tensor& x, const Tensor& y) override {
    Scope s(d_, [&] { return rows_key("add", x); });
    inner_.add_inplace(x, y);
  }
  void add_rms_norm(Tensor& x, Tensor& r, const Tensor& w, float eps) override {
    Scope s(d_, [&] { return rows_key("add_rms_norm", x); });
    inner_.add_rms_norm(x, r, w, eps);
  }
  void add_layer_norm(Tensor& x, Tensor& r, const Tensor* w, const Tensor* b, float eps) override {
    Scope s(d_, [&] { return rows_key("add_layer_norm", x); });
    inner_.add_layer_norm(x, r, w, b, eps);
  }
  void activation_inplace(Tensor& x, Activation act) override {
    Scope s(d_, [&] { return rows_key("activation", x); });
    inner_.activation_inplace(x, act);
  }
  void act_and_mul(const Tensor& gate_up, Activation act, Tensor& out) override {
    Scope s(d_, [&] { return rows_key("act_and_mul", out); });
    inner_.act_and_mul(gate_up, act, out);
  }
  void embedding(const Tensor& ids, const Tensor& table, int64_t vocab_start, Tensor& out) override {
    Scope s(d_, [&] { return rows_key("embedding", out); });
    inner_.embedding(ids, table, vocab_start, out);
  }
  void rotary(Tensor& q, Tensor& k, const Tensor& pos, const Tensor& cos_sin, bool neox) override {
    Scope s(d_, [&] { return rows_key("rotary", q); });
    inner_.rotary(q, k, pos, cos_sin, neox);
  }
  void cache_write(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& kc, Tensor& vc) override {
    Scope s(d_, [&] { return rows_key("cache_write", k); });
    inner_.cache_write(k, v, slots, kc, vc);
  }
  void qkv_to_cache(const Tensor& qkv, const Tensor& pos, const Tensor* cos_sin, bool neox, const Tensor& slots,
                    Tensor& q, Tensor& kc, Tensor& vc) override {
    Scope s(d_, [&] { return rows_key("qkv_to_cache", qkv); });
    inner_.qkv_to_cache(qkv, pos, cos_sin, neox, slots, q, kc, vc);
  }
  void paged_attention(const Tensor& q, const Tensor& kc, const Tensor& vc, const AttentionMetadata& meta,
                       float scale, Tensor& out) override {
    Scope s(d_, [&] {
      const char* kind = meta.max_query_len <= 1 ? "decode" : (q.dim(0) == meta.num_seqs ? "decode" : "prefill");
      return std::string("paged_attention ") + kind + " seqs" + rows_bucket(meta.num_seqs) + " tokens" +
             rows_bucket(q.dim(0)) + " max_ctx" + rows_bucket(meta.max_seq_len);
    });
    inner_.paged_attention(q, kc, vc, meta, scale, out);
  }
  void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) override {
    Scope s(d_, [&] { return "gather_rows " + shape(x) + " -> " + shape(out); });
    inner_.gather_rows(x, rows, out);
  }
  void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t n) override {
    Scope s(d_, [&] { return rows_key("copy_cols", x); });
    inner_.copy_cols(x, x_col, out, out_col, n);
  }
  void cast(const Tensor& x, Tensor& out) override {
    Scope s(d_, [&] { return std::string("cast ") + dtype_name(x.dtype()) + "->" + dtype_name(out.dtype()); });
    inner_.cast(x, out);
  }

 private:
  static std::string rows_key(const char* op, const Tensor& x) {
    return std::string(op) + " rows" + rows_bucket(x.ndim() ? x.dim(0) : 1);
  }
  Device d_;
  Backend& inner_;
};

void write_at_exit() { write_report(); }

}  // namespace

bool enabled() { return setting() != nullptr; }

void configure(const std::string& setting) {
  setting_storage() = setting == "0" ? "" : setting;
  std::lock_guard<std::mutex> lock(state().mu);
  state().written = false;
}

void register_clock(Device d, Clock* clock) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.clocks[(int)d] = clock;
}

Scope::Scope(Device d, const std::function<std::string()>& key) {
  if (!enabled()) return;
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    clock_ = s.clocks[(int)d];
  }
  if (!clock_) return;
  start_ = clock_->mark();
  if (start_) key_ = key();
}

void Scope::rename(std::string key) {
  if (start_) key_ = std::move(key);
}

Scope::~Scope() {
  if (!start_) return;
  void* stop = clock_->mark();
  if (!stop) {
    clock_->release(start_);
    return;
  }
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.pending.push_back({clock_, start_, stop, std::move(key_)});
  if (s.pending.size() >= kResolveEvery) s.resolve_locked();
}

Backend& profiled(Device d, Backend& inner) {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(write_at_exit); });
  static ProfiledBackend* wrapped[2] = {nullptr, nullptr};
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  ProfiledBackend*& w = wrapped[(int)d];
  if (!w) w = new ProfiledBackend(d, inner);  // leaked like the backends themselves
  return *w;
}

void reset() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.resolve_locked();
  s.totals.clear();
}

std::string report() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.resolve_locked();
  if (s.totals.empty()) return "";
  std::vector<std::pair<std::string, Totals>> rows(s.totals.begin(), s.totals.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  // Whole steps and graph replays contain ops; the share is of the ops' own time.
  double op_ms = 0;
  for (const auto& [key, t] : rows)
    if (key.rfind("engine step", 0) != 0) op_ms += t.ms;
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line, "%12s %10s %12s %7s  %s\n", "total ms", "calls", "mean us", "share", "op");
  out << "shardlm op profile (device time; 'engine step' rows contain the others)\n" << line;
  for (const auto& [key, t] : rows) {
    const bool container = key.rfind("engine step", 0) == 0;
    std::snprintf(line, sizeof line, "%12.2f %10lld %12.1f %6.1f%%  %s\n", t.ms, (long long)t.calls,
                  1e3 * t.ms / (double)t.calls, container ? 0.0 : 100.0 * t.ms / op_ms, key.c_str());
    out << line;
  }
  std::snprintf(line, sizeof line, "%12.2f %10s %12s %7s  %s\n", op_ms, "", "", "", "sum of ops");
  out << line;
  return out.str();
}

void write_report() {
  if (!enabled()) return;
  {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.written) return;
    s.written = true;
  }
  const std::string table = report();
  if (table.empty()) return;
  const std::string where = setting();
  if (where == "1") {
    std::fputs(table.c_str(), stderr);
    return;
  }
  if (FILE* f = std::fopen(where.c_str(), "w")) {
    std::fputs(table.c_str(), f);
    std::fclose(f);
  } else {
    std::fprintf(stderr, "shardlm: SHARDLM_PROFILE_OPS=%s: cannot write the op profile there\n", where.c_str());
  }
}

std::string rows_bucket(int64_t rows) {
  if (rows <= 1) return "=1";
  int64_t b = 8;
  while (b < rows) b *= (b < 64 ? 8 : 2);
  return "<=" + std::to_string(b);
}

}  // namespace shardlm::op_profile
