// The CUDA backend of the sleep-mode memory arena (core/memory_arena.h; internal to ops/cuda).
#pragma once
#include <memory>
#include <string>

#include "core/memory_arena.h"

namespace shardlm::cuda {

// Reserves `reserve_bytes` (rounded up to the allocation granularity) of device address space on the current
// device through the driver's virtual memory API; no physical memory until allocated.
std::shared_ptr<MemoryArena> make_cuda_arena(const std::string& tag, size_t reserve_bytes);

}  // namespace shardlm::cuda
