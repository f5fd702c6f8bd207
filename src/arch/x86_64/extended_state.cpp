// x87, SSE and AVX for ring 3 (the arch contract's extended state): turning them on on every CPU,
// choosing XSAVEOPT, XSAVE or FXSAVE once on the boot CPU, and the clean state of a save area.
// [Intel SDM vol1 §10.5 (FXSAVE), ch. 13 (XSAVE); vol3 §2.5 (CR0, CR4), §13.1-13.3 (OS support)]
#include <arch/cpu.hpp>
#include <arch/extended_state.hpp>

#include "arch/arch.hpp"
#include "lib/format.hpp"

namespace arch {

using namespace x86;

namespace {

enum class Method : uint8_t { Fxsave, Xsave, Xsaveopt };

// Chosen by the boot CPU before any AP starts, read-only afterwards.
Method g_method = Method::Fxsave;
uint32_t g_area_bytes = 512;                          // FXSAVE's fixed area; XSAVE's comes from CPUID leaf 0xD
uint64_t g_components = X86_XCR0_X87 | X86_XCR0_SSE;  // XCR0 on every CPU
ExtendedStateTrapHandler g_trap_handler = nullptr;

// The FXSAVE layout, which is also XSAVE's legacy region, and the XSAVE header after it
// [SDM vol1 table 10-2, §13.4.2].
constexpr uint32_t kFcwOffset = 0;
constexpr uint32_t kMxcsrOffset = 24;
// FNINIT's control word: every x87 exception masked, 64-bit precision, round to nearest.
constexpr uint16_t kFcwDefault = 0x37F;
// Every SIMD exception masked, round to nearest [SDM vol1 §10.2.3.1]. The MXCSR mask bits
// 7-12 line up with the flag bits 0-5.
constexpr uint32_t kMxcsrDefault = 0x1F80;
constexpr unsigned kMxcsrMaskShift = 7;
constexpr uint32_t kExceptionBits = 0x3F;

constexpr uint64_t kCr0Emulation = X86_CR0_EM;
constexpr uint64_t kCr0MonitorCoprocessor = X86_CR0_MP;
constexpr uint64_t kCr0NumericError = X86_CR0_NE;

bool cpu_has_xsave() { return (cpuid(1).ecx >> 26) & 1; }
bool cpu_has_avx() { return (cpuid(1).ecx >> 28) & 1; }

void choose_method() {
    if (!cpu_has_xsave()) return;
    // XSAVES is left alone: its compacted format saves space only for components with gaps
    // between them and supervisor state, neither of which x87, SSE and AVX have.
    const CpuidResult leaf = cpuid(0xD, 0);
    const uint64_t supported = (uint64_t{leaf.edx} << 32) | leaf.eax;
    if (cpu_has_avx() && (supported & X86_XCR0_AVX)) g_components |= X86_XCR0_AVX;
    g_method = (cpuid(0xD, 1).eax & 1) ? Method::Xsaveopt : Method::Xsave;
}

}  // namespace

void x86::init_extended_state(unsigned cpu_index) {
    if (cpu_index == 0) choose_method();
    // MP with EM clear: x87 and WAIT run (and obey TS); NE: x87 errors raise #MF.
    write_cr0((read_cr0() | kCr0MonitorCoprocessor | kCr0NumericError) & ~(kCr0Emulation | kCr0TaskSwitched));
    uint64_t cr4 = read_cr4() | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
    if (g_method != Method::Fxsave) cr4 |= X86_CR4_OSXSAVE;
    write_cr4(cr4);
    if (g_method == Method::Fxsave) return;
    xsetbv(0, g_components);
    // CPUID.(0xD, 0).EBX: the area the components enabled in XCR0 need, on this CPU, now.
    if (cpu_index == 0) g_area_bytes = cpuid(0xD, 0).ebx;
}

bool x86::take_extended_state_trap() {
    const ExtendedStateTrapHandler handler = __atomic_load_n(&g_trap_handler, __ATOMIC_ACQUIRE);
    return handler && handler();
}

uint32_t x86::unmasked_x87_exceptions() {
    // Bits 0-5 of the control word mask the status word's bits 0-5.
    return read_x87_status() & ~read_x87_control() & kExceptionBits;
}

uint32_t x86::unmasked_simd_exceptions() {
    const uint32_t mxcsr = read_mxcsr();
    return mxcsr & ~(mxcsr >> kMxcsrMaskShift) & kExceptionBits;
}

uint32_t extended_state_size() { return g_area_bytes; }

void extended_state_init(void* area) {
    // An XSAVE header of zeros (XSTATE_BV = 0) makes XRSTOR load every component's initial
    // state — zero registers, FCW 0x37F — except MXCSR, which it always takes from the area.
    // FXRSTOR reads the same two fields; the zeroed tag word marks every x87 register empty.
    auto* bytes = static_cast<uint8_t*>(area);
    __builtin_memset(bytes, 0, g_area_bytes);
    __builtin_memcpy(bytes + kFcwOffset, &kFcwDefault, sizeof kFcwDefault);
    __builtin_memcpy(bytes + kMxcsrOffset, &kMxcsrDefault, sizeof kMxcsrDefault);
}

void extended_state_save(void* area) {
    if (__builtin_expect(g_method == Method::Xsaveopt, 1)) xsaveopt(area);  // the usual method: one test
    else if (g_method == Method::Xsave) xsave(area);
    else fxsave(area);
}

void extended_state_switch(void* save_area, const void* restore_area) {
    // One method test for both halves, and the XSAVE mask (EDX:EAX) loaded once for both.
    if (__builtin_expect(g_method == Method::Xsaveopt, 1)) {
        xsaveopt_then_xrstor(save_area, restore_area);
    } else if (g_method == Method::Xsave) {
        xsave_then_xrstor(save_area, restore_area);
    } else {
        fxsave(save_area);
        fxrstor(restore_area);
    }
}

void extended_state_restore(const void* area) {
    if (g_method == Method::Fxsave)
        fxrstor(area);
    else
        xrstor(area);
}

void extended_state_trap_next_use() { write_cr0(read_cr0() | kCr0TaskSwitched); }
void extended_state_allow_use() { clts(); }

void set_extended_state_trap_handler(ExtendedStateTrapHandler handler) {
    __atomic_store_n(&g_trap_handler, handler, __ATOMIC_RELEASE);
}

void describe_extended_state(char* buffer, uint64_t capacity) {
    const char* method = g_method == Method::Xsaveopt ? "xsave (xsaveopt)"
                         : g_method == Method::Xsave  ? "xsave"
                                                      : "fxsave";
    kstd::format_to_buffer(buffer, capacity, "%s area=%u bytes components=x87,sse%s", method, g_area_bytes,
                           g_components & X86_XCR0_AVX ? ",avx" : "");
}

}  // namespace arch
