// Tensor: a dense, contiguous, row-major array on one device, sharing its storage by reference count.
// Views (reshape, leading-dimension slices) share storage; nothing here is strided.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace shardlm {

enum class Device : uint8_t { CPU, CUDA };
std::string device_name(Device d);

class MemoryArena;  // core/memory_arena.h

// Memory of one device. The CUDA backend registers its allocator at start-up; core knows no CUDA.
class DeviceAllocator {
 public:
  virtual ~DeviceAllocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p) = 0;
  // Copies between host and/or this device (synchronous with respect to the host).
  virtual void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) = 0;
  virtual void memset_zero(void* p, size_t bytes) = 0;
  // Device memory: free and total bytes as the driver reports them (false where not meaningful, e.g. host).
  virtual bool memory_info(size_t* free_bytes, size_t* total_bytes) { return false; }
  // The device's model name as its driver reports it (e.g. "NVIDIA H100 80GB HBM3"); empty for the host.
  virtual std::string model_name() const { return ""; }
  // Returns cached but unused blocks to the device.
  virtual void release_cached() {}
  // The index of the device this process computes on (the CUDA ordinal; 0 for the host).
  virtual int device_index() const { return 0; }

  // Host memory this device copies from without staging (page-locked on CUDA; plain host memory on the CPU),
  // for copy_async. Freed with deallocate_host.
  virtual void* allocate_host(size_t bytes);
  virtual void deallocate_host(void* p);
  // Queues a copy on the device's stream and returns without waiting (where the device has a stream): host
  // memory on either side must be allocate_host() memory, left untouched until wait_async_copies().
  virtual void copy_async(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
    copy(dst, dst_dev, src, src_dev, bytes);
  }
  // Returns once every copy_async issued so far has completed.
  virtual void wait_async_copies() {}

  // A new sleepable memory arena on this device (sleep mode; core/memory_arena.h) reserving `reserve_bytes`
  // of address space. Error where the device has none.
  virtual std::shared_ptr<MemoryArena> create_arena(const std::string& tag, size_t reserve_bytes);
};
void register_allocator(Device d, DeviceAllocator* alloc);
DeviceAllocator* allocator_for(Device d);  // throws when that device has no backend in this build

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(std::vector<int64_t> shape, DType dt, Device dev = Device::CPU);
  static Tensor zeros(std::vector<int64_t> shape, DType dt, Device dev = Device::CPU);
  // A view of memory owned elsewhere (a mapped file, say); `owner` is kept alive with the tensor.
  static Tensor wrap(const void* data, std::vector<int64_t> shape, DType dt, Device dev,
                     std::shared_ptr<const void> owner);
  static Tensor from_f32(const std::vector<float>& values, std::vector<int64_t> shape);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int ndim() const { return (int)shape_.size(); }
  int64_t dim(int i) const;  // negative counts from the end
  int64_t numel() const;
  size_t nbytes() const { return (size_t)numel() * dtype_size(dtype_); }
  std::string shape_str() const;

  void* raw() const { return static_cast<char*>(storage_.get()) + offset_; }
  template <typename T>
  T* data() const { return static_cast<T*>(raw()); }

  // Same storage, new shape with the same element count; one dimension may be -1.
  Tensor reshape(std::vector<int64_t> shape) const;
  // Rows [start, start+len) of the leading dimension; shares storage.
  Tensor slice_rows(int64_t start, int64_t len) const;
  // A copy on another device and/or in another floating dtype.
  Tensor to(Device dev) const;
  Tensor to_dtype(DType dt) const;  // CPU only
  Tensor clone() const;
  void copy_from(const Tensor& src);  // same numel and dtype; any devices
  void zero_();

 private:
  std::shared_ptr<void> storage_;
  size_t offset_ = 0;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
  std::vector<int64_t> shape_;
};

}  // namespace shardlm
