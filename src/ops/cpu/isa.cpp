// Run-time CPU feature detection for the kernel variants.
#include "ops/cpu/isa.h"

#include <cstdlib>
#include <cstring>

#include "core/env_vars.h"

namespace shardlm::cpu {

Isa detected_isa() {
  static const Isa isa = [] {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    // F16C has no __builtin_cpu_supports name in GCC 12: read CPUID leaf 1, ECX bit 29.
    unsigned eax = 1, ebx = 0, ecx = 0, edx = 0;
    __asm__("cpuid" : "+a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "c"(0));
    const bool f16c = (ecx >> 29) & 1u;
    return avx2 && f16c ? Isa::Avx2 : Isa::Portable;
  }();
  return isa;
}

Isa active_isa() {
  static const Isa isa = [] {
    if (env_value("SHARDLM_CPU_ISA") == "portable") return Isa::Portable;
    return detected_isa();
  }();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Portable: return "portable";
    case Isa::Avx2: return "avx2";
  }
  return "?";
}

}  // namespace shardlm::cpu
