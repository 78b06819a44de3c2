// Element types of tensors and their conversions (fp16/bf16/fp8-e4m3 <-> fp32 in software, bit exact).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace shardlm {

// F8E4M3 is torch's float8_e4m3fn (OCP FP8 E4M3, "fn": finite, no infinities): 1 sign, 4 exponent (bias 7) and
// 3 mantissa bits; S.1111.111 is NaN, the largest finite value is 448 (S.1111.110); exponent 0 holds the
// subnormals m * 2^-9. Used only for FP8 weights and quantised activations (layers/fp8_linear.h).
enum class DType : uint8_t { F32, F16, BF16, I32, I64, U8, F8E4M3 };

size_t dtype_size(DType dt);
std::string dtype_name(DType dt);  // "float32", "float16", ...
// Parses names as HF/torch spell them: "float16"/"half"/"fp16", "bfloat16"/"bf16", "float32"/"float"/"fp32".
// Throws shardlm::Error naming `what` for anything else.
DType parse_dtype(const std::string& name, const std::string& what);

inline float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        exp--;
      }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even.
inline uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffff;
  if (absx >= 0x7f800000) return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 : 0));
  if (absx >= 0x477ff000) return (uint16_t)(sign | 0x7c00);  // overflow -> inf
  if (absx < 0x38800000) {                                    // subnormal or zero
    if (absx < 0x33000000) return (uint16_t)sign;
    uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e;  // 14 + (113 - e) ... result = m >> (shift)
    uint32_t r = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) r++;
    return (uint16_t)(sign | r);
  }
  uint32_t r = ((absx >> 13) - ((127 - 15) << 10));
  uint32_t rem = absx & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
  return (uint16_t)(sign | r);
}

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);  // NaN stays NaN
  uint32_t lsb = (x >> 16) & 1;
  x += 0x7fff + lsb;
  return (uint16_t)(x >> 16);
}

constexpr float kFp8E4M3Max = 448.0f;

inline float fp8e4m3_to_f32(uint8_t b) {
  const uint32_t sign = (uint32_t)(b & 0x80) << 24;
  const uint32_t exp = (b >> 3) & 0xf, mant = b & 0x7;
  uint32_t bits;
  if (exp == 0xf && mant == 0x7) {
    bits = sign | 0x7fc00000u;  // NaN
  } else if (exp == 0) {
    // Subnormal m * 2^-9 (or zero): exact in f32 through the integer m.
    float v = (float)mant * (1.0f / 512.0f);
    std::memcpy(&bits, &v, 4);
    bits |= sign;
  } else {
    bits = sign | ((exp + 127 - 7) << 23) | (mant << 20);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even; magnitudes beyond the largest finite value (infinities included) saturate to +-448
// and NaN stays NaN (0x7f with the input's sign bit), as torch's `.to(torch.float8_e4m3fn)` does.
inline uint8_t f32_to_fp8e4m3(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint8_t sign = (uint8_t)((x >> 24) & 0x80);
  const uint32_t absx = x & 0x7fffffff;
  if (absx > 0x7f800000) return (uint8_t)(sign | 0x7f);
  if (absx >= 0x43e00000) return (uint8_t)(sign | 0x7e);  // >= 448: saturate
  if (absx < 0x3c800000) {                                  // below 2^-6, the smallest normal: subnormal grid 2^-9
    // |f| * 512 is exact (a power-of-two scaling); rounding it to an integer (ties to even) gives the code,
    // and 8 lands on exponent 1, mantissa 0 = 2^-6, the right normal value.
    float scaled;
    uint32_t sb = absx;
    std::memcpy(&scaled, &sb, 4);
    scaled *= 512.0f;
    uint32_t m = (uint32_t)scaled;
    const float rem = scaled - (float)m;
    if (rem > 0.5f || (rem == 0.5f && (m & 1))) ++m;
    return (uint8_t)(sign | m);
  }
  // Normal: rebias the exponent (127 -> 7), keep the top 3 mantissa bits, round the 20 dropped bits to even.
  uint32_t r = absx - ((uint32_t)(127 - 7) << 23);
  r += 0x7ffff + ((r >> 20) & 1);
  return (uint8_t)(sign | (r >> 20));
}

// The saturating quantisation every FP8 path uses (vLLM's): value / scale, clamped to +-448, then rounded.
inline uint8_t quantize_fp8e4m3(float value, float scale) { return f32_to_fp8e4m3(value / scale); }

// Converts n elements of `src` (dtype src_dt, floating) to f32.
void convert_to_f32(const void* src, DType src_dt, float* dst, size_t n);
// Converts n f32 values to dst_dt (floating).
void convert_from_f32(const float* src, void* dst, DType dst_dt, size_t n);

}  // namespace shardlm
