// The per-device registry of graph backends.
#include "ops/graph.h"

namespace shardlm {

namespace {
GraphBackend* g_graph_backends[2] = {nullptr, nullptr};
}

void register_graph_backend(Device d, GraphBackend* b) { g_graph_backends[(int)d] = b; }
GraphBackend* graph_backend_for(Device d) { return g_graph_backends[(int)d]; }

}  // namespace shardlm
