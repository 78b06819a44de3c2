// GlooStore: see gloo_store.h.
#include "distributed/gloo_store.h"

#include <cctype>
#include <sstream>

namespace shardlm {

GlooStore::GlooStore(std::shared_ptr<TcpStore> store, std::string prefix, std::vector<int> global_ranks,
                     std::chrono::milliseconds timeout)
    : store_(std::move(store)),
      prefix_(std::move(prefix)),
      global_ranks_(std::move(global_ranks)),
      timeout_(timeout) {}

void GlooStore::set(const std::string& key, const std::vector<char>& data) {
  store_->set(full(key), std::string(data.begin(), data.end()));
}

std::vector<char> GlooStore::get(const std::string& key) {
  wait({key}, timeout_);
  std::string v = store_->get(full(key));
  return std::vector<char>(v.begin(), v.end());
}

void GlooStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

// gloo names each rank's published pair addresses by the rank number (older releases: "<rank>", newer:
// "rank_<rank>"); map such keys back to the global rank for the message.
std::string GlooStore::describe_key(const std::string& key) const {
  size_t i = key.size();
  while (i > 0 && std::isdigit((unsigned char)key[i - 1])) i--;
  if (i == key.size()) return "key '" + key + "'";
  int group_rank = std::stoi(key.substr(i));
  if (group_rank < 0 || group_rank >= (int)global_ranks_.size()) return "key '" + key + "'";
  return str_cat("rank ", global_ranks_[group_rank]);
}

void GlooStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  std::vector<std::string> full_keys;
  for (const auto& k : keys) full_keys.push_back(full(k));
  auto effective = timeout.count() > 0 ? timeout : timeout_;
  try {
    store_->wait(full_keys, effective);
  } catch (const StoreTimeoutError&) {
    std::string missing;
    for (const auto& k : keys) {
      bool present = false;
      try {
        present = store_->check({full(k)});
      } catch (const Error&) {
      }
      if (!present) missing += (missing.empty() ? "" : ", ") + describe_key(k);
    }
    std::ostringstream os;
    os << effective.count() / 1000.0;
    fail(missing.empty() ? std::string("a peer") : missing, " did not publish its gloo address within ", os.str(),
         " s (the process died or hung after joining)");
  }
}

}  // namespace shardlm
