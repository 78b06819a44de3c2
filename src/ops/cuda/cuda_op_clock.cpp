// The op profiler's CUDA clock: events on the op stream, from a pool (creating an event per op would cost
// more than the small kernels it times). No marks while the stream is being captured into a CUDA graph.
#include <mutex>
#include <vector>

#include "ops/cuda/cuda_context.h"
#include "ops/op_profile.h"

namespace shardlm {
namespace {

class CudaClock final : public op_profile::Clock {
 public:
  void* mark() override {
    cuda::ensure_device();
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    SHARDLM_CUDA_CHECK(cudaStreamIsCapturing(cuda::stream(), &capturing));
    if (capturing != cudaStreamCaptureStatusNone) return nullptr;
    cudaEvent_t e = take();
    SHARDLM_CUDA_CHECK(cudaEventRecord(e, cuda::stream()));
    return e;
  }
  double elapsed_ms(void* from, void* to) override {
    SHARDLM_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(to)));
    float ms = 0;
    SHARDLM_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(from), static_cast<cudaEvent_t>(to)));
    return ms;
  }
  void release(void* token) override {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(static_cast<cudaEvent_t>(token));
  }

 private:
  cudaEvent_t take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        cudaEvent_t e = free_.back();
        free_.pop_back();
        return e;
      }
    }
    cudaEvent_t e;
    SHARDLM_CUDA_CHECK(cudaEventCreate(&e));
    return e;
  }
  std::mutex mu_;
  std::vector<cudaEvent_t> free_;
};

struct Registrar {
  Registrar() {
    if (!cuda::gpu_present()) return;
    static auto* clock = new CudaClock();  // leaked: marks may be resolved at exit
    op_profile::register_clock(Device::CUDA, clock);
  }
} g_registrar;

}  // namespace
}  // namespace shardlm
