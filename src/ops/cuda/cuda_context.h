// The process's CUDA context as the backend sees it: which device (LOCAL_RANK picks it), the one stream every
// op, copy and collective runs on, the cuBLAS handle, device limits, and the error check that turns CUDA
// failures into shardlm::Error. Host-only header (no kernels).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "core/dtype.h"
#include "core/error.h"

namespace shardlm::cuda {

// True when the CUDA driver is usable and at least one GPU is visible. Never throws: on a machine without
// a driver or GPU it returns false. SHARDLM_CUDA_ASSUME_GPU=1 answers true without asking CUDA (for running
// under compute-sanitizer, which must initialise CUDA before the program does).
bool gpu_present();

// Makes the chosen device current on the calling thread (the device is per host thread in CUDA). The device
// is LOCAL_RANK % device_count, or 0 without LOCAL_RANK, unless set_device_index() chose another first.
void ensure_device();
int device_index();
// Overrides the LOCAL_RANK choice; only before the first allocation or op, or with the same index.
void set_device_index(int index);

// The single stream all ops, copies and collectives of this process are ordered on.
cudaStream_t stream();
cublasHandle_t cublas();

// cuBLAS's type of a floating dtype (F32, F16, BF16); an Error naming `what` for any other.
cudaDataType_t cublas_float_type(DType dt, const char* what);

int num_sms();
size_t max_shared_memory_per_block_optin();

[[noreturn]] void fail_cuda(cudaError_t err, const char* what, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t st, const char* what, const char* file, int line);

}  // namespace shardlm::cuda

#define SHARDLM_CUDA_CHECK(expr)                                                   \
  do {                                                                             \
    cudaError_t shardlm_err_ = (expr);                                             \
    if (shardlm_err_ != cudaSuccess)                                               \
      ::shardlm::cuda::fail_cuda(shardlm_err_, #expr, __FILE__, __LINE__);         \
  } while (0)

#define SHARDLM_CUBLAS_CHECK(expr)                                                 \
  do {                                                                             \
    cublasStatus_t shardlm_st_ = (expr);                                           \
    if (shardlm_st_ != CUBLAS_STATUS_SUCCESS)                                      \
      ::shardlm::cuda::fail_cublas(shardlm_st_, #expr, __FILE__, __LINE__);        \
  } while (0)

// After a kernel launch: reports bad launch configurations at once (faults inside kernels surface at the
// next synchronising call).
#define SHARDLM_CUDA_CHECK_LAUNCH() SHARDLM_CUDA_CHECK(cudaGetLastError())
