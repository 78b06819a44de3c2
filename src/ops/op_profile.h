// Where a step's device time goes, per op and shape class: with SHARDLM_PROFILE_OPS set, every op (and the
// engine's other device work: the sampler, graph replays, whole steps) is timed on its device's own clock
// (CUDA events on the op stream; the host clock on the CPU, where ops are synchronous) and summed per key,
// e.g. "linear M<=2048 N=6144 K=4096". The table goes to stderr (SHARDLM_PROFILE_OPS=1) or to the file it
// names, when shardlm bench finishes or at exit. Timing inside CUDA-graph capture is skipped, so a decode
// step replayed from a graph counts as one "decode graph replay" entry: profile with --enforce-eager to see
// its ops. CUDA events add a few microseconds of host time per op; figures are for finding the big items.
#pragma once
#include <functional>
#include <string>

#include "ops/backend.h"

namespace shardlm::op_profile {

bool enabled();  // SHARDLM_PROFILE_OPS is set (read once) or configure() turned profiling on
// Overrides the environment: "1" (stderr), a file path, or "" (off). For tests and embedding programs.
void configure(const std::string& setting);

// A device's clock: mark() returns an opaque token for "now" in the device's order of work (nullptr when
// timing is impossible there, as inside graph capture); elapsed_ms() waits for both marks and gives the time
// between them; release() returns a token to the clock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual void* mark() = 0;
  virtual double elapsed_ms(void* from, void* to) = 0;
  virtual void release(void* token) = 0;
};
void register_clock(Device d, Clock* clock);

// Times the device work issued during its lifetime under key(); key is only called when profiling is on.
class Scope {
 public:
  Scope(Device d, const std::function<std::string()>& key);
  ~Scope();
  void rename(std::string key);  // for a scope whose kind is known only after it began
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Clock* clock_ = nullptr;
  void* start_ = nullptr;
  std::string key_;
};

// The backend wrapped so that every op runs inside a Scope (what backend_for returns when enabled()).
Backend& profiled(Device d, Backend& inner);

// Drops what was timed so far (benchmarks call it after start-up and warm-up).
void reset();
// The table so far (sorted by total time), or "" when nothing was timed.
std::string report();
// Writes the table once (stderr or the named file); later calls and the exit hook do nothing.
void write_report();

// Row-count buckets used in keys (1, <=8, <=64, <=256, ...), so prefill chunks of similar size share a line.
std::string rows_bucket(int64_t rows);

}  // namespace shardlm::op_profile
