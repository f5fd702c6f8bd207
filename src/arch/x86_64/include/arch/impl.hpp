// The x86-64 data side of the arch contract (src/arch/arch.hpp includes this last): what portable
// code may know about the machine without calling into it — the page-table entry encoding, the
// per-CPU block's entry offsets, the kernel image's extent, the vectors portable code uses. The other headers in this folder
// are x86-private: only src/arch/x86_64 and the kernel's own x86 checks include them.
#pragma once

#include <stdint.h>

#include <arch/boot_layout.hpp>
#include <arch/percpu_offsets.h>
#include <arch/pte.hpp>
#include <arch/x86_defs.h>

namespace arch {

// Vectors of the interrupts portable code raises and handles itself (the rest of the map is in
// <arch/x86_defs.h>).
inline constexpr uint8_t kVectorWakeIpi = X86_VECTOR_WAKE;
inline constexpr uint8_t kVectorRemoteCallIpi = X86_VECTOR_REMOTE_CALL;
// The per-CPU base (arch.hpp): inline, as every "which CPU am I" on the switch and system-call
// paths goes through it. The block's first word is its own address (PERCPU_SELF).
inline void* cpu_local_base() {
    void* self;
    asm volatile("mov %%gs:0, %0" : "=r"(self));
    return self;
}

// One word of this CPU's block at a fixed offset, read with a single %gs-relative load: a task
// that moves to another CPU mid-read still gets a consistent value (the load happens on one
// CPU), which reading the base and then the word could not promise.
template <unsigned Offset>
inline void* cpu_local_word() {
    void* word;
    asm volatile("mov %%gs:%c1, %0" : "=r"(word) : "i"(Offset));
    return word;
}

// XSAVE and XRSTOR fault on a save area not aligned to 64 bytes [SDM vol1 §13.4].
inline constexpr uint32_t kExtendedStateAlignment = 64;

// The PC's first serial port, for the 16550 driver.
inline constexpr uint16_t kLegacyCom1Port = X86_COM1_PORT;

}  // namespace arch
