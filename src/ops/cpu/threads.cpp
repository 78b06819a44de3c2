// The CPU kernels' thread count: one setting for the kernels' thread pool, OpenMP (used outside the kernels)
// and OpenBLAS (the portable linear kernel).
#include <omp.h>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/thread_pool.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace shardlm::cpu {

namespace {
int g_num_threads = 0;
}

void set_num_threads(int n) {
  g_num_threads = n;
  int t = num_threads();
  resize_thread_pool(t);
  omp_set_num_threads(t);
  openblas_set_num_threads(t);
}

int num_threads() { return g_num_threads > 0 ? g_num_threads : omp_get_num_procs(); }

int num_threads_available() { return omp_get_num_procs(); }

}  // namespace shardlm::cpu
