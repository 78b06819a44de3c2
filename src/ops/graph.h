// Device graphs: the work of a function captured once and replayed with one launch (CUDA graphs). The
// interface has no CUDA in it; ops/cuda/cuda_graph.cpp implements it for Device::CUDA. Devices without
// graphs (the CPU) have no GraphBackend.
#pragma once
#include <functional>
#include <memory>

#include "core/tensor.h"

namespace shardlm {

// Memory that captured work allocates from. Blocks allocated during a capture belong to the pool and go
// back to it when freed, never to the device's general cache, so no tensor allocated outside a capture can
// alias memory a graph reads or writes. Graphs replay one at a time, so they may all share one pool.
class GraphMemoryPool {
 public:
  virtual ~GraphMemoryPool() = default;
  virtual size_t bytes() const = 0;  // device memory the pool holds
};

class DeviceGraph {
 public:
  virtual ~DeviceGraph() = default;
  // Queues the captured work on the device's stream, on the memory it was captured with; does not wait.
  virtual void replay() = 0;
};

class GraphBackend {
 public:
  virtual ~GraphBackend() = default;
  virtual std::shared_ptr<GraphMemoryPool> create_pool() = 0;
  // Runs `body` with the device's stream in capture mode: the ops it queues are recorded, not run, and every
  // device allocation it makes comes from `pool` (which the graph keeps alive). The body must not
  // synchronise with the host or copy to or from host memory; such a call, or any exception, abandons the
  // capture and throws. Tensors the body keeps alive past the capture stay valid across replays.
  virtual std::unique_ptr<DeviceGraph> capture(const std::shared_ptr<GraphMemoryPool>& pool,
                                               const std::function<void()>& body) = 0;
};

GraphBackend* graph_backend_for(Device d);  // null when the device has no graphs (CPU, or no GPU)
void register_graph_backend(Device d, GraphBackend* b);

}  // namespace shardlm
