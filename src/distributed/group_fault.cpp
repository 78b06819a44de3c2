// GroupFaultReporter: see group_fault.h.
//
// Record (store key <prefix>fault/record), JSON: {"lost": [global ranks], "by": global rank that wrote it,
// "op": collective, "how": "connection closed" | "did not respond ..." | the failure text when nobody is lost}.
// Census keys (<prefix>fault/alive/<group rank>): used only when no connection is known to be closed
// (a timeout): survivors check in, and whoever does not within the grace period is reported. When all
// check in, the record has no lost ranks and says which rank gave up and why.
#include "distributed/group_fault.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

namespace shardlm {
namespace {

struct FaultRecord {
  std::vector<int> lost;
  int by = -1;
  std::string op;
  std::string how;
};

std::string to_json(const FaultRecord& r) {
  nlohmann::json j;
  j["lost"] = r.lost;
  j["by"] = r.by;
  j["op"] = r.op;
  j["how"] = r.how;
  return j.dump();
}

std::optional<FaultRecord> from_json(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    FaultRecord r;
    r.lost = j.at("lost").get<std::vector<int>>();
    r.by = j.at("by").get<int>();
    r.op = j.at("op").get<std::string>();
    r.how = j.at("how").get<std::string>();
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string seconds(std::chrono::milliseconds ms) {
  std::ostringstream os;
  os << ms.count() / 1000.0 << " s";
  return os.str();
}

// Restores the store's reply timeout when fault handling is done with it.
class ShortTimeout {
 public:
  ShortTimeout(TcpStore& s, std::chrono::milliseconds t) : store_(s), saved_(s.timeout()) { s.set_timeout(t); }
  ~ShortTimeout() { store_.set_timeout(saved_); }

 private:
  TcpStore& store_;
  std::chrono::milliseconds saved_;
};

}  // namespace

std::string ranks_phrase(const std::vector<int>& ranks) {
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); i++) out += (i ? ", " : "") + std::to_string(ranks[i]);
  return out;
}

std::string strip_gloo_location(const std::string& what) {
  if (!what.empty() && what[0] == '[') {
    auto close = what.find("] ");
    if (close != std::string::npos) return what.substr(close + 2);
  }
  return what;
}

GroupFaultReporter::GroupFaultReporter(std::shared_ptr<TcpStore> store, std::string prefix, std::string group_name,
                                       std::vector<int> global_ranks, int group_rank, std::chrono::milliseconds timeout,
                                       std::string backend)
    : store_(std::move(store)),
      prefix_(std::move(prefix)),
      group_name_(std::move(group_name)),
      global_ranks_(std::move(global_ranks)),
      group_rank_(group_rank),
      timeout_(timeout),
      backend_(std::move(backend)) {}

std::chrono::milliseconds fault_grace(std::chrono::milliseconds timeout) {
  return std::max(std::chrono::milliseconds(1), std::min<std::chrono::milliseconds>(timeout / 4, std::chrono::seconds(5)));
}

std::chrono::milliseconds collective_wait(std::chrono::milliseconds timeout) {
  const auto exit_reserve = std::min<std::chrono::milliseconds>(timeout / 10, std::chrono::seconds(2));
  return std::max(std::chrono::milliseconds(1), timeout - fault_grace(timeout) - exit_reserve);
}

std::string GroupFaultReporter::diagnose(const std::string& op, const std::string& backend_error,
                                         const std::vector<int>& broken_group_ranks, const std::string& lost_how) {
  const int me = global_ranks_[group_rank_];
  const auto grace = fault_grace(timeout_);
  const std::string record_key = prefix_ + "fault/record";
  const std::string detail = strip_gloo_location(backend_error);

  std::optional<FaultRecord> record;
  bool store_ok = store_ != nullptr;
  if (store_ok) {
    try {
      ShortTimeout short_timeout(*store_, grace);
      if (store_->check({record_key})) record = from_json(store_->get(record_key));
      if (!record && !broken_group_ranks.empty()) {
        FaultRecord mine{{}, me, op, lost_how};
        for (int g : broken_group_ranks) mine.lost.push_back(global_ranks_[g]);
        record = from_json(store_->compare_set(record_key, "", to_json(mine)));
      }
      if (!record) {
        // Nobody's connection closed: a timeout. Survivors check in; the silent ones are reported.
        store_->set(prefix_ + "fault/alive/" + std::to_string(group_rank_), "1");
        std::vector<int> silent;
        const auto deadline = std::chrono::steady_clock::now() + grace;
        for (int g = 0; g < (int)global_ranks_.size(); g++) {
          if (g == group_rank_) continue;
          auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
          try {
            store_->wait({prefix_ + "fault/alive/" + std::to_string(g)}, std::max(left, std::chrono::milliseconds(1)));
          } catch (const StoreTimeoutError&) {
            silent.push_back(global_ranks_[g]);
          }
        }
        if (!silent.empty()) {
          FaultRecord mine{silent, me, op, str_cat("did not respond within ", seconds(collective_wait(timeout_)))};
          record = from_json(store_->compare_set(record_key, "", to_json(mine)));
        } else {
          // Everyone is alive: record that this rank gives up (it closes its connections next), so
          // peers report this failure instead of blaming this rank for leaving.
          FaultRecord mine{{}, me, op, detail};
          record = from_json(store_->compare_set(record_key, "", to_json(mine)));
        }
      }
    } catch (const Error&) {
      store_ok = false;  // the store is gone too (its host died): fall back to what we saw locally
    }
  }

  // Global ranks throughout: "(tp1 group of ranks 2, 3; seen from rank 3)".
  std::string members;
  for (size_t i = 0; i < global_ranks_.size(); i++) members += (i ? ", " : "") + std::to_string(global_ranks_[i]);
  const std::string where = str_cat(" (", group_name_, " group of ranks ", members, "; seen from rank ", me, ")");
  if (record && !record->lost.empty()) {
    std::string msg = str_cat("lost ", ranks_phrase(record->lost), " during ", op, ": ", record->how);
    if (record->how == kConnectionClosed) msg += " (the process exited or was killed)";
    if (record->by != me) msg += str_cat("; first noticed by rank ", record->by, " during ", record->op);
    return msg + where + "; " + backend_ + ": " + detail;
  }
  if (record && record->by != me) {
    return str_cat(op, " failed: rank ", record->by, " abandoned the group after its ", record->op, " failed (",
                   record->how, ")", where, "; ", backend_, ": ", detail);
  }
  if (!broken_group_ranks.empty()) {
    std::vector<int> lost;
    for (int g : broken_group_ranks) lost.push_back(global_ranks_[g]);
    return str_cat("lost ", ranks_phrase(lost), " during ", op, ": ", lost_how,
                   lost_how == kConnectionClosed ? " (the process exited or was killed)" : "", where, "; ", backend_, ": ",
                   detail);
  }
  if (!store_ok && global_ranks_.size() == 2) {
    // Neither the peer nor the store answers (a cut link, or the peer's host is down): with one peer there is
    // only one rank to name.
    return str_cat("lost rank ", global_ranks_[1 - group_rank_], " during ", op, ": no reply within ",
                   seconds(collective_wait(timeout_)),
                   ", and the rendezvous store is unreachable too (the network between the hosts is down, or the "
                   "peer's host)", where, "; ", backend_, ": ", detail);
  }
  return str_cat(op, " failed", where, ": ", detail,
                 store_ok ? "; every peer is still alive (mismatched collectives across ranks?)"
                          : "; the rendezvous store is unreachable, so the lost rank could not be identified");
}

}  // namespace shardlm
