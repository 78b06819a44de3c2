// The CPU backend of the sleep-mode memory arena (core/memory_arena.h).
#pragma once
#include <memory>
#include <string>

#include "core/memory_arena.h"

namespace shardlm {

// Reserves `reserve_bytes` (rounded up to 2 MiB) of address space; nothing is resident until allocated.
std::shared_ptr<MemoryArena> make_cpu_arena(const std::string& tag, size_t reserve_bytes);

}  // namespace shardlm
