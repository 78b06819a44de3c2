// The distributed layer in one include: launch environment, rendezvous store, process groups,
// init_distributed, and the torchelastic error file.
#pragma once
#include "distributed/error_file.h"
#include "distributed/launch_env.h"
#include "distributed/parallel_state.h"
#include "distributed/process_group.h"
#include "distributed/tcp_store.h"
