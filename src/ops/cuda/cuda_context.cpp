// Device choice, the process-wide stream and cuBLAS handle, and CUDA error reporting.
#include "ops/cuda/cuda_context.h"

#include <cstdlib>
#include <mutex>
#include <string>

#include "core/env_vars.h"
#include "distributed/launch_env.h"

namespace shardlm::cuda {

namespace {

std::mutex g_mutex;
int g_device = -1;          // chosen device index; -1 until first use
bool g_resources = false;   // stream/handle created on g_device
cudaStream_t g_stream = nullptr;
cublasHandle_t g_cublas = nullptr;
thread_local int t_current_device = -1;

int visible_device_count() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver"/"no device" error
    return 0;
  }
  return n;
}


int chosen_device_locked() {
  if (g_device < 0) {
    int n = visible_device_count();
    if (n == 0) fail("no CUDA device is visible (check the driver and CUDA_VISIBLE_DEVICES)");
    g_device = detect_launch_env().local_rank % n;  // the launcher's local rank: one GPU per rank on a host
  }
  return g_device;
}

}  // namespace

bool gpu_present() {
  // SHARDLM_CUDA_ASSUME_GPU=1 skips the query. The backend registers itself from static initialisers, and a
  // CUDA call there initialises CUDA before tools that inject themselves (compute-sanitizer disables itself).
  static const bool present = [] {
    if (env_value("SHARDLM_CUDA_ASSUME_GPU") == "1") return true;
    return visible_device_count() > 0;
  }();
  return present;
}

int device_index() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return chosen_device_locked();
}

void set_device_index(int index) {
  std::lock_guard<std::mutex> lock(g_mutex);
  int n = visible_device_count();
  if (index < 0 || index >= n) fail("CUDA device index ", index, " is out of range (", n, " visible devices)");
  if (g_resources && g_device != index)
    fail("CUDA device ", g_device, " is already in use by this process; cannot switch to device ", index);
  g_device = index;
}

void ensure_device() {
  int dev = device_index();
  if (t_current_device == dev) return;
  SHARDLM_CUDA_CHECK(cudaSetDevice(dev));
  t_current_device = dev;
}

namespace {
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;

// Created once, on the chosen device, and never destroyed: ops may run during static destruction.
void create_resources() {
  ensure_device();
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_resources) return;
  SHARDLM_CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamDefault));
  SHARDLM_CUBLAS_CHECK(cublasCreate(&g_cublas));
  SHARDLM_CUBLAS_CHECK(cublasSetStream(g_cublas, g_stream));
  // A workspace of our own, fixed for the process: cuBLAS then never allocates while a CUDA graph is being
  // captured, and captured GEMMs keep a valid workspace address. After cublasSetStream, which resets it.
  // 32 MiB is what Hopper's cuBLAS kernels ask for at most (PyTorch's default there).
  void* workspace = nullptr;
  SHARDLM_CUDA_CHECK(cudaMalloc(&workspace, kCublasWorkspaceBytes));
  SHARDLM_CUBLAS_CHECK(cublasSetWorkspace(g_cublas, workspace, kCublasWorkspaceBytes));
  g_resources = true;
}
}  // namespace

cudaStream_t stream() {
  if (!g_resources) create_resources();
  ensure_device();
  return g_stream;
}

cublasHandle_t cublas() {
  if (!g_resources) create_resources();
  ensure_device();
  return g_cublas;
}

int num_sms() {
  static const int n = [] {
    int v = 0;
    SHARDLM_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, device_index()));
    return v;
  }();
  return n;
}

size_t max_shared_memory_per_block_optin() {
  static const size_t n = [] {
    int v = 0;
    SHARDLM_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_index()));
    return (size_t)v;
  }();
  return n;
}

void fail_cuda(cudaError_t err, const char* what, const char* file, int line) {
  fail("CUDA error ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ") in ", what, " at ", file, ":", line);
}

void fail_cublas(cublasStatus_t st, const char* what, const char* file, int line) {
  fail("cuBLAS error ", cublasGetStatusName(st), " (", cublasGetStatusString(st), ") in ", what, " at ", file, ":",
       line);
}

}  // namespace shardlm::cuda
