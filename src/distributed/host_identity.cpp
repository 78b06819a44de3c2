// host_identity / choose_cpu_collectives: see host_identity.h.
#include "distributed/host_identity.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/env_vars.h"
#include "distributed/group_fault.h"

namespace shardlm {
namespace {

std::string hostname() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

// A value no other process has: stands in for a part of the identity that could not be read.
std::string unique_to_this_process() {
  std::random_device rd;
  return str_cat("unknown-", ::getpid(), "-", rd(), rd());
}

std::string first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  if (!std::getline(f, line) || line.empty()) return unique_to_this_process();
  return line;
}

std::string namespace_of(const char* path) {
  char buf[128];
  ssize_t n = ::readlink(path, buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, (size_t)n) : unique_to_this_process();
}

std::string shm_mount() {
  struct stat st {};
  if (::stat("/dev/shm", &st) != 0 || !S_ISDIR(st.st_mode)) return unique_to_this_process();
  return str_cat((unsigned long long)st.st_dev, ":", (unsigned long long)st.st_ino);
}

}  // namespace

std::string host_identity() {
  return str_cat("boot=", first_line("/proc/sys/kernel/random/boot_id"), " host=", hostname(), " shm=", shm_mount(),
                 " ", namespace_of("/proc/self/ns/net"), " ", namespace_of("/proc/self/ns/pid"));
}

std::string cpu_collectives_setting() {
  const std::optional<std::string> v = env_value("SHARDLM_CPU_COLLECTIVES");
  if (!v) return "auto";
  if (*v == "auto" || *v == "shm" || *v == "gloo") return *v;
  fail("environment variable SHARDLM_CPU_COLLECTIVES='", *v, "' is not one of auto, shm, gloo");
}

CpuCollectivesChoice choose_cpu_collectives(TcpStore& store, const std::string& prefix, const std::vector<int>& global_ranks,
                                            int group_rank, std::chrono::milliseconds timeout) {
  const std::string setting = cpu_collectives_setting();
  nlohmann::json mine;
  mine["id"] = host_identity();
  mine["host"] = hostname();
  mine["setting"] = setting;
  store.set(prefix + "host/" + std::to_string(group_rank), mine.dump());
  std::vector<std::string> keys;
  for (size_t g = 0; g < global_ranks.size(); g++) keys.push_back(prefix + "host/" + std::to_string(g));
  std::vector<std::string> values;
  try {
    store.wait(keys, timeout);
    values = store.multi_get(keys);
  } catch (const StoreTimeoutError&) {
    std::vector<int> missing;
    for (size_t g = 0; g < keys.size(); g++)
      if (!store.check({keys[g]})) missing.push_back(global_ranks[g]);
    fail(ranks_phrase(missing), " did not publish its host identity within ", timeout.count() / 1000.0,
         " s (choosing the CPU collectives of a process group; seen from rank ", global_ranks[group_rank], ")");
  }
  std::vector<nlohmann::json> all;
  for (const auto& v : values) all.push_back(nlohmann::json::parse(v));

  std::map<std::string, std::vector<int>> by_setting, by_host;
  for (size_t g = 0; g < all.size(); g++) {
    by_setting[all[g].at("setting").get<std::string>()].push_back(global_ranks[g]);
    by_host[all[g].at("id").get<std::string>()].push_back(global_ranks[g]);
  }
  if (by_setting.size() > 1) {
    std::string who;
    for (const auto& [s, ranks] : by_setting) who += str_cat(who.empty() ? "" : ", ", ranks_phrase(ranks), " '", s, "'");
    fail("ranks disagree on SHARDLM_CPU_COLLECTIVES (", who, "); set it the same on every rank, or unset it");
  }
  CpuCollectivesChoice c;
  if (setting == "gloo") {
    c.transport = CpuCollectives::Gloo;
    c.forced = true;
    c.why = "SHARDLM_CPU_COLLECTIVES=gloo";
    return c;
  }
  if (by_host.size() == 1) {
    c.transport = CpuCollectives::Shm;
    c.forced = setting == "shm";
    c.why = "every rank on one host";
    return c;
  }
  if (setting == "shm") {
    std::string where;
    for (const auto& [id, ranks] : by_host) {
      const size_t g = std::find(global_ranks.begin(), global_ranks.end(), ranks[0]) - global_ranks.begin();
      where += str_cat(where.empty() ? "" : "; ", ranks_phrase(ranks), " on ", all[g].at("host").get<std::string>(),
                       " (", id, ")");
    }
    fail("SHARDLM_CPU_COLLECTIVES=shm needs every rank of a group on one host, but they are on ", by_host.size(),
         " hosts: ", where, "; unset it (or set auto) to use Gloo across hosts");
  }
  c.transport = CpuCollectives::Gloo;
  c.why = str_cat("ranks on ", by_host.size(), " hosts");
  return c;
}

}  // namespace shardlm
