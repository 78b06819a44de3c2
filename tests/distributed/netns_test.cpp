// Two hosts on one machine: two network namespaces joined by a veth pair, one rank in each, launched by
// `shardlm-run --nnodes 2 --node-rank i` and by torchrun-style environment variables. TP=2 across them must
// equal TP=1 (greedy tokens; logprobs within float tolerance), go through Gloo (a separate network namespace is
// another host to the shared-memory transport), and fail on both sides, naming the peer, when the link is cut
// mid-generation, leaving no process behind. Needs root and `ip netns`: skipped, loudly, where they are missing.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dist_test_util.h"

using namespace shardlm::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

int sh(const std::string& cmd) { return std::system((cmd + " > /dev/null 2>&1").c_str()); }

// Namespaces <tag>a and <tag>b, veth ends <tag>a / <tag>b with addresses addr(0) / addr(1) on a /24 of their
// own (10.<pid-derived>.<pid-derived>.0, so concurrent runs do not collide). Deleting a namespace deletes its
// end of the pair, and with it the other end.
class TwoHosts {
 public:
  TwoHosts() : tag_("slm" + std::to_string(::getpid())) {
    const int pid = (int)::getpid();
    subnet_ = "10." + std::to_string(100 + pid % 100) + "." + std::to_string(pid / 100 % 250) + ".";
    const std::string a = ns(0), b = ns(1);
    if (::geteuid() != 0) {
      why_not_ = "not root";
      return;
    }
    if (sh("ip netns add " + a) != 0 || sh("ip netns add " + b) != 0) {
      why_not_ = "'ip netns add' failed (no iproute2, or namespaces are forbidden here)";
      return;
    }
    const std::vector<std::string> steps = {
        "ip link add " + a + " type veth peer name " + b, "ip link set " + a + " netns " + a,
        "ip link set " + b + " netns " + b,                "ip -n " + a + " addr add " + addr(0) + "/24 dev " + a,
        "ip -n " + b + " addr add " + addr(1) + "/24 dev " + b, "ip -n " + a + " link set " + a + " up",
        "ip -n " + b + " link set " + b + " up",           "ip -n " + a + " link set lo up",
        "ip -n " + b + " link set lo up"};
    for (const auto& s : steps)
      if (sh(s) != 0) {
        why_not_ = "'" + s + "' failed";
        return;
      }
  }
  ~TwoHosts() {
    sh("ip netns del " + ns(0));
    sh("ip netns del " + ns(1));
  }
  const std::string& why_not() const { return why_not_; }
  std::string ns(int i) const { return tag_ + (i ? "b" : "a"); }
  std::string addr(int i) const { return subnet_ + std::to_string(i + 1); }
  // Cuts the link (host 0's end down): packets are dropped, no connection sees a reset.
  void cut() const { EXPECT_EQ(sh("ip -n " + ns(0) + " link set " + ns(0) + " down"), 0); }
  // argv run inside host i's namespace.
  std::vector<std::string> in(int i, std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"ip", "netns", "exec", ns(i)});
    return argv;
  }

 private:
  std::string tag_, subnet_, why_not_;
};

#define REQUIRE_TWO_HOSTS(hosts)                                                                             \
  do {                                                                                                       \
    if (!(hosts).why_not().empty()) {                                                                        \
      std::cerr << "\n*** SKIPPING: cannot build two network namespaces: " << (hosts).why_not() << " ***\n"; \
      GTEST_SKIP() << "network namespaces unavailable: " << (hosts).why_not();                              \
    }                                                                                                        \
  } while (0)

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> generate_args(const std::string& model, const std::vector<std::string>& extra) {
  std::vector<std::string> a = {bin_dir() + "/shardlm", "generate", "--model", model, "--prompt-token-ids", "1,2,3,4,5",
                                "--prompt-token-ids", "1,9,8,7", "--temperature", "0", "--ignore-eos", "--no-progress",
                                "--num-threads", "1", "--dist-timeout", "5"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::vector<std::string> append(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Greedy tokens equal; every logprob within 1e-4 (TP sums in another order than TP=1).
void expect_same_generation(const std::string& tp1_jsonl, const std::string& tp2_jsonl) {
  std::istringstream a(tp1_jsonl), b(tp2_jsonl);
  std::string la, lb;
  int lines = 0;
  while (std::getline(a, la)) {
    ASSERT_TRUE(std::getline(b, lb)) << "TP=2 has fewer outputs";
    auto ja = nlohmann::json::parse(la)["outputs"][0], jb = nlohmann::json::parse(lb)["outputs"][0];
    EXPECT_EQ(ja["token_ids"], jb["token_ids"]);
    ASSERT_EQ(ja["logprobs"].size(), jb["logprobs"].size());
    for (size_t t = 0; t < ja["logprobs"].size(); t++)
      for (auto& [tok, lp] : ja["logprobs"][t].items()) {
        ASSERT_TRUE(jb["logprobs"][t].contains(tok)) << "step " << t << " token " << tok;
        EXPECT_NEAR(lp.get<double>(), jb["logprobs"][t][tok].get<double>(), 1e-4) << "step " << t << " token " << tok;
      }
    lines++;
  }
  EXPECT_EQ(lines, 2);
}

std::string tmp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("shardlm-netns-" + tag + "-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d.string();
}

// TP=1 in this namespace, then TP=2 with rank i in host i, started by `launch(i, generate argv)`.
void check_tp2_across_hosts(const TwoHosts& hosts,
                            const std::function<Child(int, const std::vector<std::string>&)>& launch) {
  const std::string dir = tmp_dir("tp");
  const std::string model = model_dir("tiny-llama");
  const std::vector<std::string> common = {"--max-tokens", "12", "--logprobs", "2"};
  Child one = run_process(append(generate_args(model, common), {"--output-jsonl", dir + "/tp1.jsonl"}), {}, 120s);
  ASSERT_TRUE(one.exited_with(0)) << describe(one);
  const auto gen = append(generate_args(model, common),
                          {"--tensor-parallel-size", "2", "--output-jsonl", dir + "/out.{rank}.jsonl"});
  Child r0 = launch(0, gen), r1 = launch(1, gen);
  wait_all({&r0, &r1}, 180s);
  ASSERT_TRUE(r0.exited_with(0)) << describe(r0);
  ASSERT_TRUE(r1.exited_with(0)) << describe(r1);
  // Another network namespace is another host: the tensors went through Gloo.
  EXPECT_NE(r0.output().find("the world group's tensor collectives go through Gloo (ranks on 2 hosts)"),
            std::string::npos)
      << r0.output();
  const std::string out0 = read_text(dir + "/out.0.jsonl");
  EXPECT_EQ(read_text(dir + "/out.1.jsonl"), out0) << "both ranks write the same outputs";
  expect_same_generation(read_text(dir + "/tp1.jsonl"), out0);
  fs::remove_all(dir);
}

// Processes whose environment holds `tag` (our workers and launchers).
std::vector<int> tagged_processes(const std::string& tag) {
  std::vector<int> pids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (read_text(e.path().string() + "/environ").find(tag) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

// CPU seconds process `pid` has used (0 when gone).
double cpu_seconds(int pid) {
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; i++) {  // fields 14 and 15: utime, stime (clock ticks)
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return (double)(utime + stime) / (double)::sysconf(_SC_CLK_TCK);
}

}  // namespace

TEST(NetNamespaces, Tp2AcrossTwoHostsUnderShardlmRunEqualsTp1) {
  SHARDLM_REQUIRE_FIXTURES();
  TwoHosts hosts;
  REQUIRE_TWO_HOSTS(hosts);
  const std::string port = std::to_string(free_port());
  check_tp2_across_hosts(hosts, [&](int i, const std::vector<std::string>& gen) {
    return start_process(hosts.in(i, append({launcher_exe(), "--nnodes", "2", "--node-rank", std::to_string(i),
                                             "--nproc-per-node", "1", "--master-addr", hosts.addr(0), "--master-port",
                                             port},
                                            gen)),
                         {});
  });
}

TEST(NetNamespaces, Tp2AcrossTwoHostsWithTorchrunEnvironmentEqualsTp1) {
  SHARDLM_REQUIRE_FIXTURES();
  TwoHosts hosts;
  REQUIRE_TWO_HOSTS(hosts);
  const std::string port = std::to_string(free_port());
  check_tp2_across_hosts(hosts, [&](int i, const std::vector<std::string>& gen) {
    return start_process(hosts.in(i, gen), {{"RANK", std::to_string(i)},
                                            {"WORLD_SIZE", "2"},
                                            {"LOCAL_RANK", "0"},
                                            {"LOCAL_WORLD_SIZE", "1"},
                                            {"MASTER_ADDR", hosts.addr(0)},
                                            {"MASTER_PORT", port}});
  });
}

TEST(NetNamespaces, CutLinkFailsBothRanksNamingThePeer) {
  SHARDLM_REQUIRE_FIXTURES();
  TwoHosts hosts;
  REQUIRE_TWO_HOSTS(hosts);
  const std::string dir = tmp_dir("cut");
  Child made = run_process({bin_dir() + "/shardlm", "make-model", "--preset", "llama-tiny", "--max-position-embeddings",
                            "32768", "--out", dir + "/model"},
                           {}, 60s);
  ASSERT_TRUE(made.exited_with(0)) << describe(made);
  const std::string tag = "SHARDLM_NETNS_TAG=" + std::to_string(::getpid());
  const std::string port = std::to_string(free_port());
  const auto gen =
      append(generate_args(dir + "/model", {"--max-tokens", "30000"}), {"--tensor-parallel-size", "2"});
  std::vector<Child> nodes;
  for (int i = 0; i < 2; i++)
    nodes.push_back(start_process(hosts.in(i, append({launcher_exe(), "--nnodes", "2", "--node-rank", std::to_string(i),
                                                      "--nproc-per-node", "1", "--master-addr", hosts.addr(0),
                                                      "--master-port", port},
                                                     gen)),
                                  {{"SHARDLM_NETNS_TAG", std::to_string(::getpid())}}));
  // Cut once both ranks are generating: each worker has burnt a second of CPU (start-up takes far less).
  const auto started = std::chrono::steady_clock::now();
  std::vector<int> workers;
  for (;;) {
    workers.clear();
    double least = 1e9;
    for (int pid : tagged_processes(tag))
      if (read_text("/proc/" + std::to_string(pid) + "/cmdline").find("generate") != std::string::npos &&
          read_text("/proc/" + std::to_string(pid) + "/environ").find(std::string("SHARDLM_LAUNCHER=")) != std::string::npos) {
        workers.push_back(pid);
        least = std::min(least, cpu_seconds(pid));
      }
    if (workers.size() == 2 && least >= 1.0) break;
    ASSERT_LT(std::chrono::steady_clock::now() - started, 120s) << describe(nodes[0]) << describe(nodes[1]);
    std::this_thread::sleep_for(100ms);
  }
  hosts.cut();
  const auto cut = std::chrono::steady_clock::now();
  wait_all({&nodes[0], &nodes[1]}, 60s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - cut).count();
  for (int i = 0; i < 2; i++) {
    EXPECT_TRUE(nodes[i].finished && !nodes[i].exited_with(0)) << "node " << i << ": " << describe(nodes[i]);
    EXPECT_NE(nodes[i].output().find("lost rank " + std::to_string(1 - i)), std::string::npos)
        << "node " << i << " must name its peer: " << nodes[i].output();
  }
  // --dist-timeout 5: the collective waits 3.25 s, naming the lost rank through the store (or finding it
  // unreachable) takes at most 1.25 s, and 0.5 s are left for the exits: within 5 s on a quiet machine. The
  // bound leaves room for a loaded one (a rank starved of CPU starts its last collective late) and still
  // catches a wait that is not bounded by the timeout.
  std::printf("both nodes exited %.2f s after the cut (--dist-timeout 5)\n", seconds);
  EXPECT_LT(seconds, 12) << "node 0 exited " << nodes[0].elapsed_s << " s after the cut, node 1 "
                                << nodes[1].elapsed_s << " s\n"
                                << nodes[0].output() << nodes[1].output();
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(tagged_processes(tag).empty()) << "a worker or launcher outlived the job";
  for (int pid : tagged_processes(tag)) ::kill(pid, SIGKILL);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/dev/shm", ec))
    for (int pid : workers)
      EXPECT_EQ(e.path().filename().string().find("-" + std::to_string(pid) + "-"), std::string::npos)
          << "segment left: " << e.path();
  fs::remove_all(dir);
}
