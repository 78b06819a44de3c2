// Parsing shardlm-run's torchrun-style command line; see launcher_args.h.
#include "distributed/launcher_args.h"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "core/error.h"

namespace shardlm {
namespace {

int parse_count(const std::string& option, const std::string& value, int min, int max) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno == ERANGE || v < min || v > max || std::isspace((unsigned char)value[0]) || value[0] == '+')
    fail("shardlm-run: ", option, " expects an integer in ", min, "..", max, ", got '", value, "'");
  return (int)v;
}

// "--nproc_per_node" -> "--nproc-per-node"
std::string normalise(std::string name) {
  for (size_t i = 2; i < name.size(); i++)
    if (name[i] == '_') name[i] = '-';
  return name;
}

}  // namespace

std::string launcher_usage() {
  return "usage: shardlm-run [options] PROGRAM [ARGS...]\n"
         "Starts nproc-per-node copies of PROGRAM with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK,\n"
         "MASTER_ADDR, MASTER_PORT, TORCHELASTIC_*) and hosts their rendezvous store.\n"
         "  --nproc-per-node N   workers on this node (default 1)\n"
         "  --nnodes N           number of nodes, each running one shardlm-run (default 1)\n"
         "  --node-rank R        this node's index, 0..nnodes-1 (default 0; node 0 hosts the store)\n"
         "  --master-addr A      address of node 0 (default 127.0.0.1)\n"
         "  --master-port P      port of the store on node 0 (default 29500)\n"
         "  --standalone         single node: host the store on a free localhost port\n"
         "  --rdzv-id ID         run id passed to workers as TORCHELASTIC_RUN_ID (default: random on one node,\n"
         "                       none with --nnodes > 1, as torchrun: all nodes must agree)\n"
         "  --no-python          accepted for torchrun compatibility (PROGRAM is always run directly)\n"
         "If a worker fails, the others are stopped (SIGTERM, then SIGKILL after 5 s) and shardlm-run exits 1.\n"
         "If shardlm-run itself dies (even by SIGKILL), the kernel sends every worker SIGTERM.\n";
}

LauncherArgs parse_launcher_args(const std::vector<std::string>& args) {
  LauncherArgs out;
  size_t i = 0;
  bool port_given = false, addr_given = false;
  for (; i < args.size(); i++) {
    const std::string& arg = args[i];
    if (arg == "--") {
      i++;
      break;
    }
    if (arg.empty() || arg[0] != '-' || arg == "-") break;  // the program
    std::string name = arg, value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    name = normalise(name);
    auto take_value = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= args.size()) fail("shardlm-run: option ", name, " needs a value");
      return args[++i];
    };
    auto no_value = [&]() {
      if (has_value) fail("shardlm-run: option ", name, " takes no value, got '", value, "'");
    };
    if (name == "-h" || name == "--help") {
      no_value();
      out.help = true;
      return out;
    } else if (name == "--nproc-per-node") {
      out.nproc_per_node = parse_count(name, take_value(), 1, 4096);
    } else if (name == "--nnodes") {
      std::string v = take_value();
      if (auto colon = v.find(':'); colon != std::string::npos) {
        int lo = parse_count(name, v.substr(0, colon), 1, 65536);
        int hi = parse_count(name, v.substr(colon + 1), 1, 65536);
        if (lo != hi) fail("shardlm-run: elastic --nnodes ", v, " is not supported; give a fixed number of nodes");
        out.nnodes = lo;
      } else {
        out.nnodes = parse_count(name, v, 1, 65536);
      }
    } else if (name == "--node-rank") {
      out.node_rank = parse_count(name, take_value(), 0, 65535);
    } else if (name == "--master-addr") {
      out.master_addr = take_value();
      if (out.master_addr.empty()) fail("shardlm-run: --master-addr is empty");
      addr_given = true;
    } else if (name == "--master-port") {
      out.master_port = parse_count(name, take_value(), 1, 65535);
      port_given = true;
    } else if (name == "--standalone") {
      no_value();
      out.standalone = true;
    } else if (name == "--no-python") {
      no_value();
    } else if (name == "--rdzv-id" || name == "--run-id") {
      out.run_id = take_value();
    } else if (name == "--max-restarts") {
      if (parse_count(name, take_value(), 0, 1000000) != 0)
        fail("shardlm-run: restarting failed workers is not supported (--max-restarts must be 0)");
    } else if (name == "--monitor-interval") {
      take_value();  // we poll our children every 20 ms
    } else {
      fail("shardlm-run: unknown option '", arg, "'\n", launcher_usage());
    }
  }
  for (; i < args.size(); i++) out.program.push_back(args[i]);
  if (out.program.empty()) fail("shardlm-run: no program given\n", launcher_usage());
  if (out.node_rank >= out.nnodes)
    fail("shardlm-run: --node-rank ", out.node_rank, " must be below --nnodes ", out.nnodes);
  if (out.standalone) {
    if (out.nnodes != 1) fail("shardlm-run: --standalone runs one node, but --nnodes is ", out.nnodes);
    if (port_given || addr_given)
      fail("shardlm-run: --standalone picks its own master address and port; drop --master-addr/--master-port");
    out.master_addr = "localhost";
    out.master_port = 0;
  }
  return out;
}

}  // namespace shardlm
