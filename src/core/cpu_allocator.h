// The host allocator behind Device::CPU tensors.
#pragma once
#include "core/tensor.h"

namespace shardlm {

// The process's CPU allocator (constructed on first use, never destroyed: tensors may be freed during static
// destruction).
DeviceAllocator* cpu_allocator();

}  // namespace shardlm
