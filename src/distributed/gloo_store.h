// GlooStore: gloo's rendezvous::Store interface over our TcpStore, with a per-group key prefix, so
// gloo::rendezvous::Context::connectFullMesh exchanges pair addresses through the launcher's store.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gloo/rendezvous/store.h>

#include "distributed/tcp_store.h"

namespace shardlm {

class GlooStore : public gloo::rendezvous::Store {
 public:
  // `global_ranks[i]` is the global rank of group rank i (gloo keys are group ranks; errors name global
  // ranks). `timeout` is used when gloo waits without one.
  GlooStore(std::shared_ptr<TcpStore> store, std::string prefix, std::vector<int> global_ranks,
            std::chrono::milliseconds timeout);

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  // Throws shardlm::Error naming the ranks whose address never appeared.
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

 private:
  std::string full(const std::string& key) const { return prefix_ + key; }
  std::string describe_key(const std::string& key) const;

  std::shared_ptr<TcpStore> store_;
  std::string prefix_;
  std::vector<int> global_ranks_;
  std::chrono::milliseconds timeout_;
};

}  // namespace shardlm
