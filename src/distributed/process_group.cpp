// SingleProcessGroup and the argument checks every ProcessGroup backend shares.
#include "distributed/process_group.h"

#include "core/error.h"

namespace shardlm {

std::string reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return "sum";
    case ReduceOp::Max:
      return "max";
    case ReduceOp::Min:
      return "min";
  }
  return "?";
}

namespace {

void check_tensor(const Tensor& t, const char* op, const char* what, const std::string& backend,
                  Device expected_device) {
  if (!t.defined()) fail(op, ": the ", what, " tensor is undefined");
  if (t.device() != expected_device)
    fail(op, ": the ", what, " tensor is on ", device_name(t.device()), " but the ", backend,
         " group works on ", device_name(expected_device), " tensors");
}

}  // namespace

void check_root(int root, int group_size, const char* op) {
  if (root < 0 || root >= group_size)
    fail(op, ": root ", root, " is not a rank of this group (size ", group_size, ")");
}

void check_all_reduce_args(const Tensor& t, const std::string& backend, Device expected_device) {
  check_tensor(t, "all_reduce", "input", backend, expected_device);
}

void check_all_gather_args(const Tensor& in, const Tensor& out, int group_size, const std::string& backend,
                           Device expected_device) {
  check_tensor(in, "all_gather", "input", backend, expected_device);
  check_tensor(out, "all_gather", "output", backend, expected_device);
  if (in.dtype() != out.dtype())
    fail("all_gather: input is ", dtype_name(in.dtype()), " but output is ", dtype_name(out.dtype()));
  if (in.ndim() == 0 || out.ndim() != in.ndim())
    fail("all_gather: output ", out.shape_str(), " must have the rank of input ", in.shape_str(),
         " (at least one dimension)");
  bool ok = out.dim(0) == in.dim(0) * group_size;
  for (int d = 1; d < in.ndim(); d++) ok = ok && out.dim(d) == in.dim(d);
  if (!ok)
    fail("all_gather: output ", out.shape_str(), " must hold ", group_size, " x input ", in.shape_str(),
         " stacked along dim 0");
}

void check_broadcast_args(const Tensor& t, int root, int group_size, const std::string& backend,
                          Device expected_device) {
  check_tensor(t, "broadcast", "input", backend, expected_device);
  check_root(root, group_size, "broadcast");
}

void SingleProcessGroup::all_reduce(Tensor& t, ReduceOp) { check_all_reduce_args(t, backend(), t.device()); }

void SingleProcessGroup::all_gather(const Tensor& in, Tensor& out) {
  check_all_gather_args(in, out, 1, backend(), in.device());
  if (in.raw() != out.raw()) out.copy_from(in);
}

void SingleProcessGroup::broadcast(Tensor& t, int root) { check_broadcast_args(t, root, 1, backend(), t.device()); }

void SingleProcessGroup::broadcast_bytes(std::string&, int root) { check_root(root, 1, "broadcast_bytes"); }

}  // namespace shardlm
