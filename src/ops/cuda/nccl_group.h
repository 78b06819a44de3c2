// The NCCL device group: collectives over GPU tensors of the tensor-parallel ranks, one GPU per process.
// Host tensors and the byte collectives go to the CPU group it was built from, which also carries the
// ncclUniqueId from rank 0 at construction.
#pragma once
#include <memory>

#include "distributed/process_group.h"

namespace shardlm {

// Collective over every rank of cpu_group: each process calls it with its LOCAL_RANK as device_index (taken
// modulo the visible devices, the same choice the CUDA backend makes). Error when NCCL is not in this
// build, or when the communicator cannot be created. Registered as the CUDA device-group factory when
// distributed/parallel_state.h is in the tree.
std::shared_ptr<ProcessGroup> make_nccl_group(const std::shared_ptr<ProcessGroup>& cpu_group, int device_index);

}  // namespace shardlm
