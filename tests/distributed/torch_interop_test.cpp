// Interoperability with real PyTorch: our TcpStore client against torch's TCPStore server, torch's
// client against our TcpStoreServer, and our workers under the real torchrun. Needs a Python with torch
// (SHARDLM_TORCH_PYTHON, else python3); skipped loudly when there is none, since torch is not a
// dependency of the project.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "dist_test_util.h"
#include "distributed/tcp_store.h"

using namespace shardlm;
using namespace shardlm::testing;
using namespace std::chrono_literals;

namespace {

std::string torch_python() {
  const char* env = std::getenv("SHARDLM_TORCH_PYTHON");
  return env && *env ? env : "python3";
}

bool have_torch() {
  static int cached = -1;
  if (cached < 0) {
    Child c = run_process({torch_python(), "-c", "import torch.distributed.run"}, {}, 120s);
    cached = c.exited_with(0) ? 1 : 0;
  }
  return cached == 1;
}

#define REQUIRE_TORCH()                                                                                    \
  do {                                                                                                     \
    if (!have_torch()) {                                                                                   \
      std::cerr << "\n*** SKIPPING: no PyTorch for '" << torch_python()                                    \
                << "' (set SHARDLM_TORCH_PYTHON to a python with torch to run the interop tests) ***\n";  \
      GTEST_SKIP() << "PyTorch not available";                                                             \
    }                                                                                                      \
  } while (0)

std::string peer_script() { return std::string(SHARDLM_SOURCE_DIR) + "/tests/distributed/torch_store_peer.py"; }

// Polls a child's output for "PORT=<n>".
int wait_for_port(const Child& c, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out = c.output();
    auto pos = out.find("PORT=");
    if (pos != std::string::npos && out.find('\n', pos) != std::string::npos) return std::atoi(out.c_str() + pos + 5);
    std::this_thread::sleep_for(50ms);
  }
  return -1;
}

}  // namespace

TEST(TorchInterop, OurClientAgainstTorchServer) {
  REQUIRE_TORCH();
  Child py = start_process({torch_python(), peer_script(), "server"}, {});
  int port = wait_for_port(py, 90s);
  ASSERT_GT(port, 0) << py.output();
  auto store = TcpStore::connect("127.0.0.1", port, 20s);
  EXPECT_EQ(store->get("from_torch"), "hello");
  EXPECT_TRUE(store->check({"from_torch"}));
  EXPECT_FALSE(store->check({"from_torch", "nope"}));
  // A timed-out wait cancels on torch's server too, and the connection stays in step.
  EXPECT_THROW(store->wait({"never"}, 300ms), StoreTimeoutError);
  EXPECT_EQ(store->add("counter", 5), 5);
  EXPECT_EQ(store->add("counter", 7), 12);
  EXPECT_EQ(store->compare_set("cas", "", "new"), "new");
  EXPECT_EQ(store->compare_set("cas", "old", "other"), "new");
  store->multi_set({"ma", "mb"}, {"1", "2"});
  EXPECT_EQ(store->multi_get({"mb", "ma"}), (std::vector<std::string>{"2", "1"}));
  EXPECT_TRUE(store->delete_key("ma"));
  EXPECT_GE(store->num_keys(), 4);
  store->set("from_shardlm", std::string("world\0bytes", 11));
  store->wait({"torch_done"}, 30s);
  store->set("shardlm_done", "1");
  wait_all({&py}, 60s);
  EXPECT_TRUE(py.exited_with(0)) << describe(py);
  EXPECT_NE(py.output().find("TORCH-OK"), std::string::npos) << py.output();
}

TEST(TorchInterop, TorchClientAgainstOurServer) {
  REQUIRE_TORCH();
  TcpStoreServer server(0);
  auto ours = TcpStore::connect("127.0.0.1", server.port(), 10s);
  ours->set("from_shardlm", "seeded by shardlm");
  Child py = run_process({torch_python(), peer_script(), "client", std::to_string(server.port())}, {}, 120s);
  EXPECT_TRUE(py.exited_with(0)) << describe(py);
  EXPECT_NE(py.output().find("TORCH-OK"), std::string::npos) << py.output();
  // What torch's client wrote is what ours reads: one key space ("/" prefix on both sides).
  EXPECT_EQ(ours->get("k"), "v");
  EXPECT_EQ(ours->get("n"), "-7");
  EXPECT_EQ(ours->get("c"), "second");
  EXPECT_EQ(ours->get("torch_done"), "1");
}

TEST(TorchInterop, WorkersUnderTorchrun) {
  REQUIRE_TORCH();
  Child c = run_process({torch_python(), "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                         "--no-python", self_exe(), "--gtest_filter=DistWorker.Collectives"},
                        {{"SHARDLM_DIST_WORKER", "1"}}, 180s);
  ASSERT_TRUE(c.exited_with(0)) << describe(c);
  std::string out = c.output();
  EXPECT_NE(out.find("DIST-WORKER-OK rank=0 world=2 launcher=torchrun"), std::string::npos) << out;
  EXPECT_NE(out.find("DIST-WORKER-OK rank=1 world=2 launcher=torchrun"), std::string::npos) << out;
}

TEST(TorchInterop, TorchrunReportsOurErrorFile) {
  REQUIRE_TORCH();
  Child c = run_process({torch_python(), "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                         "--no-python", self_exe(), "--gtest_filter=DistWorker.Fault"},
                        {{"SHARDLM_DIST_WORKER", "1"}, {"SHARDLM_TEST_FAULT", "exit3"}}, 180s);
  ASSERT_TRUE(c.finished) << describe(c);
  EXPECT_FALSE(c.exited_with(0)) << describe(c);
  // torchrun's failure summary quotes the message our worker wrote to TORCHELASTIC_ERROR_FILE.
  EXPECT_NE(c.output().find("simulated failure on rank 1"), std::string::npos) << c.output();
}
