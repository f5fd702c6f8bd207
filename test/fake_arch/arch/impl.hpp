// Host side of <arch/impl.hpp> (src/arch/arch.hpp checks it has the same shape as the kernel's):
// the x86-64 page-table encoding is pure arithmetic, so host tests use the real one; the vectors
// and port are the same numbers; the per-CPU base is one pointer per host thread
// (test/fake_arch/fake_arch.cpp), as GS is one per CPU.
#pragma once

#include <stdint.h>

#include <arch/pte.hpp>
#include <arch/x86_defs.h>

namespace arch {

inline constexpr uint8_t kVectorWakeIpi = X86_VECTOR_WAKE;
inline constexpr uint8_t kVectorRemoteCallIpi = X86_VECTOR_REMOTE_CALL;
inline constexpr uint16_t kLegacyCom1Port = X86_COM1_PORT;
inline constexpr uint32_t kExtendedStateAlignment = 64;

inline thread_local void* t_cpu_local_base = nullptr;
inline void* cpu_local_base() { return t_cpu_local_base; }
template <unsigned Offset>
inline void* cpu_local_word() {
    return *reinterpret_cast<void**>(static_cast<char*>(t_cpu_local_base) + Offset);
}

}  // namespace arch
