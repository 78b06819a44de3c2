// Request accessors and status names.
#include "engine/request.h"

#include "core/error.h"

namespace shardlm {

const char* request_status_name(RequestStatus s) {
  switch (s) {
    case RequestStatus::Waiting: return "waiting";
    case RequestStatus::Running: return "running";
    case RequestStatus::Preempted: return "preempted";
    case RequestStatus::FinishedStopped: return "finished_stopped";
    case RequestStatus::FinishedLength: return "finished_length";
    case RequestStatus::FinishedAborted: return "finished_aborted";
  }
  return "unknown";
}

bool is_finished(RequestStatus s) {
  switch (s) {
    case RequestStatus::Waiting:
    case RequestStatus::Running:
    case RequestStatus::Preempted: return false;
    case RequestStatus::FinishedStopped:
    case RequestStatus::FinishedLength:
    case RequestStatus::FinishedAborted: return true;
  }
  return false;
}

int32_t Request::token_at(int i) const {
  const int num_prompt = num_prompt_tokens();
  if (i < 0 || i >= num_tokens())
    fail("request '", request_id, "': token index ", i, " is outside [0, ", num_tokens(), ")");
  return i < num_prompt ? prompt_token_ids[i] : output_token_ids[i - num_prompt];
}

}  // namespace shardlm
