// Which instruction-set variant of the CPU kernels runs: AVX2+FMA+F16C when the processor has them (checked
// at run time, so the default build stays portable), else portable code. SHARDLM_CPU_ISA=portable forces
// the portable kernels (for comparisons); tests pick variants explicitly.
#pragma once

// Marks a function compiled for AVX2/FMA/F16C. Such functions may only run when detected_isa() says so.
#define SHARDLM_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace shardlm::cpu {

enum class Isa { Portable, Avx2 };

Isa detected_isa();  // the best variant this processor supports
Isa active_isa();    // detected_isa(), lowered to Portable by SHARDLM_CPU_ISA=portable
const char* isa_name(Isa isa);

}  // namespace shardlm::cpu
