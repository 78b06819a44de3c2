// dtype names and bulk conversions.
#include "core/dtype.h"

#include <algorithm>

#include "core/error.h"

namespace shardlm {

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
    case DType::F8E4M3: return 1;
  }
  return 0;
}

std::string dtype_name(DType dt) {
  switch (dt) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::U8: return "uint8";
    case DType::F8E4M3: return "float8_e4m3fn";
  }
  return "?";
}

DType parse_dtype(const std::string& name, const std::string& what) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), ::tolower);
  if (n == "float16" || n == "half" || n == "fp16" || n == "f16" || n == "torch.float16") return DType::F16;
  if (n == "bfloat16" || n == "bf16" || n == "torch.bfloat16") return DType::BF16;
  if (n == "float32" || n == "float" || n == "fp32" || n == "f32" || n == "torch.float32") return DType::F32;
  fail(what, ": unsupported dtype '", name, "' (expected float32, float16 or bfloat16)");
}

void convert_to_f32(const void* src, DType src_dt, float* dst, size_t n) {
  switch (src_dt) {
    case DType::F32:
      std::copy_n(static_cast<const float*>(src), n, dst);
      return;
    case DType::F16: {
      auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::F8E4M3: {
      auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = fp8e4m3_to_f32(s[i]);
      return;
    }
    case DType::I32:
    case DType::I64:
    case DType::U8:
      break;
  }
  fail("convert_to_f32: ", dtype_name(src_dt), " is not a floating dtype");
}

void convert_from_f32(const float* src, void* dst, DType dst_dt, size_t n) {
  switch (dst_dt) {
    case DType::F32:
      std::copy_n(src, n, static_cast<float*>(dst));
      return;
    case DType::F16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::F8E4M3: {
      auto* d = static_cast<uint8_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_fp8e4m3(src[i]);
      return;
    }
    case DType::I32:
    case DType::I64:
    case DType::U8:
      break;
  }
  fail("convert_from_f32: ", dtype_name(dst_dt), " is not a floating dtype");
}

}  // namespace shardlm
