// Helpers for scheduler tests: building requests and running one engine step with a fake sampler.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/scheduler.h"

namespace shardlm::testing {

inline std::vector<int32_t> token_range(int count, int32_t first) {
  std::vector<int32_t> t(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) t[i] = first + i;
  return t;
}

// Tests name requests ("A", "n0"); the scheduler knows them by integer ids. id() numbers each name the first time
// it is seen (0, 1, 2, ... in the order names appear); name_of() and names_of() map back.
inline std::map<std::string, int64_t>& test_ids() {
  static std::map<std::string, int64_t> ids;
  return ids;
}
inline int64_t id(const std::string& name) {
  auto& ids = test_ids();
  return ids.emplace(name, (int64_t)ids.size()).first->second;
}
inline std::string name_of(int64_t request_id) {
  for (const auto& [name, i] : test_ids())
    if (i == request_id) return name;
  return "#" + std::to_string(request_id);
}
inline std::vector<std::string> names_of(const std::vector<int64_t>& request_ids) {
  std::vector<std::string> out;
  for (int64_t i : request_ids) out.push_back(name_of(i));
  return out;
}
// How the scheduler's errors name a request.
inline std::string quoted(const std::string& name) { return "'" + std::to_string(id(name)) + "'"; }

inline std::unique_ptr<Request> make_request(const std::string& name, std::vector<int32_t> prompt, int max_tokens) {
  auto r = std::make_unique<Request>();
  r->request_id = id(name);
  r->prompt_token_ids = std::move(prompt);
  r->max_tokens = max_tokens;
  return r;
}

// What one scheduled request looked like when it was scheduled (pointers may die with the step).
struct ScheduledView {
  std::string id;
  int num_computed_before;
  int num_new_tokens;
  std::vector<int32_t> block_ids;
};

struct StepRecord {
  std::vector<ScheduledView> scheduled;
  std::vector<std::string> preempted_ids;
  std::vector<std::string> finished_ids;
  int total_num_scheduled_tokens = 0;
  std::vector<std::unique_ptr<Request>> finished;  // finished by run_step after the update
};

// Default fake sampler: 1000 + number of outputs so far (so outputs are 1000, 1001, ...).
inline int32_t count_sampler(const Request& r) { return 1000 + r.num_output_tokens(); }

// One engine step: schedule, sample for requests that reach their last token, update, then finish
// requests that produced max_tokens (FinishedLength). Checks invariants before returning.
inline StepRecord run_step(Scheduler& s, const std::function<int32_t(const Request&)>& sampler = count_sampler) {
  SchedulerOutput out = s.schedule();
  StepRecord rec;
  rec.preempted_ids = names_of(out.preempted_ids);
  rec.finished_ids = names_of(out.finished_ids);
  rec.total_num_scheduled_tokens = out.total_num_scheduled_tokens;
  std::map<int64_t, int32_t> sampled;
  for (const ScheduledRequest& sr : out.scheduled) {
    const Request& r = *sr.request;
    rec.scheduled.push_back({name_of(sr.request_id), r.num_computed_tokens, sr.num_new_tokens, r.block_ids});
    if (r.num_computed_tokens + sr.num_new_tokens == r.num_tokens()) sampled[sr.request_id] = sampler(r);
  }
  s.update_from_output(out, sampled);
  for (const auto& [id, token] : sampled) {
    const Request* r = s.find(id);
    if (r && r->num_output_tokens() >= r->max_tokens)
      rec.finished.push_back(s.finish_request(id, RequestStatus::FinishedLength));
  }
  s.check_invariants();
  return rec;
}

}  // namespace shardlm::testing
