// CUDA graphs behind ops/graph.h: stream capture on the backend's one stream, allocations of the captured
// work from a private pool of the caching allocator (cuda_allocator.h), replay with cudaGraphLaunch.
//
// Capture mode: cudaStreamCaptureModeThreadLocal. The capturing thread is then barred from calls that could
// synchronise or otherwise escape the graph (cudaMalloc outside the pool's relaxed window, cudaFree,
// synchronous copies, stream and event queries), so a forward pass that does any of them fails loudly at
// capture instead of recording something that replays wrongly; threads that capture nothing (a Python
// thread, a progress bar) are not constrained, as they would be in global mode. NCCL supports both modes.
#include <string>

#include "ops/cuda/cuda_allocator.h"
#include "ops/cuda/cuda_context.h"
#include "ops/graph.h"

namespace shardlm::cuda {

namespace {

class CudaGraphPool final : public GraphMemoryPool {
 public:
  CudaGraphPool() : id_(create_pool()) {}
  ~CudaGraphPool() override { release_pool(id_); }
  size_t bytes() const override { return pool_bytes(id_); }
  int id() const { return id_; }

 private:
  int id_;
};

class CudaGraph final : public DeviceGraph {
 public:
  CudaGraph(cudaGraphExec_t exec, std::shared_ptr<GraphMemoryPool> pool) : exec_(exec), pool_(std::move(pool)) {}
  ~CudaGraph() override { (void)cudaGraphExecDestroy(exec_); }
  void replay() override {
    ensure_device();
    SHARDLM_CUDA_CHECK(cudaGraphLaunch(exec_, stream()));
  }

 private:
  cudaGraphExec_t exec_;
  std::shared_ptr<GraphMemoryPool> pool_;  // the graph's memory: released after the graph
};

// Ends a capture that is being abandoned, whatever state it is in, and clears the error it left.
void abandon_capture(cudaStream_t s) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(s, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    cudaGraph_t partial = nullptr;
    (void)cudaStreamEndCapture(s, &partial);
    if (partial) (void)cudaGraphDestroy(partial);
  }
  (void)cudaGetLastError();
}

class CudaGraphBackend final : public GraphBackend {
 public:
  std::shared_ptr<GraphMemoryPool> create_pool() override { return std::make_shared<CudaGraphPool>(); }

  std::unique_ptr<DeviceGraph> capture(const std::shared_ptr<GraphMemoryPool>& pool,
                                       const std::function<void()>& body) override {
    auto* cuda_pool = dynamic_cast<CudaGraphPool*>(pool.get());
    if (!cuda_pool) fail("CUDA graph capture needs a pool made by the CUDA graph backend");
    ensure_device();
    cudaStream_t s = stream();
    cudaGraph_t graph = nullptr;
    {
      PoolScope scope(cuda_pool->id());
      SHARDLM_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
      try {
        body();
      } catch (const std::exception& e) {
        abandon_capture(s);
        fail("CUDA graph capture failed: ", e.what());
      } catch (...) {
        abandon_capture(s);
        throw;
      }
      const cudaError_t err = cudaStreamEndCapture(s, &graph);
      if (err != cudaSuccess || !graph) {
        (void)cudaGetLastError();
        if (graph) (void)cudaGraphDestroy(graph);
        fail("CUDA graph capture failed: ", cudaGetErrorName(err), " (", cudaGetErrorString(err),
             "); something in the captured work synchronised or used host memory");
      }
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    (void)cudaGraphDestroy(graph);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      fail("CUDA graph instantiation failed: ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
    }
    auto captured = std::make_unique<CudaGraph>(exec, pool);
    // Uploading now keeps the one-time setup out of the first replay's latency.
    SHARDLM_CUDA_CHECK(cudaGraphUpload(exec, s));
    return captured;
  }
};

struct Registrar {
  Registrar() {
    if (!gpu_present()) return;
    static auto* backend = new CudaGraphBackend();  // leaked, like the other CUDA registrations
    register_graph_backend(Device::CUDA, backend);
  }
} g_registrar;

}  // namespace

}  // namespace shardlm::cuda
