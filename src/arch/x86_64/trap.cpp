// CPU exceptions and interrupt dispatch: trap_dispatch() is called by isr_stubs.S for every
// vector. A program's fault goes to the registered fault handler; a kernel-mode exception goes
// to the registered kernel-exception handler (the kernel's panic report), which this file helps
// with describe_exception() but never calls into the kernel itself.
#include <arch/cpu.hpp>
#include <arch/descriptors.hpp>
#include <arch/extended_state.hpp>
#include <arch/trap_frame.hpp>

#include "arch/arch.hpp"
#include "lib/cpu_mask.hpp"
#include "lib/format.hpp"

namespace arch {
namespace {

// [Intel SDM vol3 §6.3.1, table 6-1]
const char* const kExceptionNames[32] = {
    "#DE divide error",       "#DB debug",           "NMI",                       "#BP breakpoint",
    "#OF overflow",           "#BR bound range",     "#UD invalid opcode",        "#NM device not available",
    "#DF double fault",       "coprocessor overrun", "#TS invalid TSS",           "#NP segment not present",
    "#SS stack fault",        "#GP general protection", "#PF page fault",         "reserved 15",
    "#MF x87 error",          "#AC alignment check", "#MC machine check",         "#XM SIMD error",
    "#VE virtualization",     "#CP control protection", "reserved 22",            "reserved 23",
    "reserved 24",            "reserved 25",         "reserved 26",               "reserved 27",
    "#HV hypervisor injection", "#VC VMM communication", "#SX security",          "reserved 31",
};

constexpr uint64_t kVectorNmi = X86_VECTOR_NMI;

InterruptHandler g_handlers[256];
void* g_handler_contexts[256];
FaultHandler g_fault_handler = nullptr;

FaultKind fault_kind(uint64_t vector) {
    switch (vector) {
    case 0: return FaultKind::DivideError;
    case 1: return FaultKind::Debug;
    case 3: return FaultKind::Breakpoint;
    case 4: return FaultKind::Overflow;
    case 5: return FaultKind::BoundRange;
    case 6: return FaultKind::InvalidOpcode;
    case 7: return FaultKind::DeviceNotAvailable;
    case 11: return FaultKind::SegmentNotPresent;
    case 12: return FaultKind::StackSegment;
    case 13: return FaultKind::GeneralProtection;
    case 14: return FaultKind::PageFault;
    case 16: return FaultKind::X87Error;
    case 17: return FaultKind::AlignmentCheck;
    case 19: return FaultKind::SimdError;
    case 21: return FaultKind::ControlProtection;
    default: return FaultKind::Other;
    }
}

// Exceptions that say something about the code that ran, as opposed to the machine: NMI, #DF
// and #MC stay fatal even in ring 3.
bool is_program_fault(uint64_t vector) { return vector != kVectorNmi && vector != 8 && vector != 18; }

KernelExceptionHandler g_kernel_exception_handler = nullptr;
NmiHandler g_nmi_handler = nullptr;

[[noreturn]] void kernel_exception(const TrapFrame& frame, uint64_t vector, uint64_t error_code) {
    const KernelExceptionHandler handler = __atomic_load_n(&g_kernel_exception_handler, __ATOMIC_ACQUIRE);
    if (handler) handler(&frame, static_cast<unsigned>(vector), error_code);
    halt_forever();
}

}  // namespace

const char* describe(FaultKind kind) {
    switch (kind) {
    case FaultKind::DivideError: return "divide error";
    case FaultKind::Debug: return "debug trap";
    case FaultKind::Breakpoint: return "breakpoint";
    case FaultKind::Overflow: return "overflow";
    case FaultKind::BoundRange: return "bound range exceeded";
    case FaultKind::InvalidOpcode: return "invalid opcode";
    case FaultKind::DeviceNotAvailable: return "FPU instruction";
    case FaultKind::GeneralProtection: return "general protection fault";
    case FaultKind::StackSegment: return "stack-segment fault";
    case FaultKind::SegmentNotPresent: return "segment not present";
    case FaultKind::PageFault: return "page fault";
    case FaultKind::X87Error:
        return "x87 floating-point error";
    case FaultKind::AlignmentCheck: return "alignment check";
    case FaultKind::SimdError:
        return "SIMD floating-point error";
    case FaultKind::ControlProtection: return "control protection";
    case FaultKind::Other: return "exception";
    }
    return "exception";
}

const char* describe_floating_point_error(const FaultInfo& fault) {
    constexpr const char* kNames[6] = {"invalid operation", "denormal operand", "divide by zero",
                                       "overflow",          "underflow",        "inexact result"};
    for (unsigned bit = 0; bit < 6; ++bit)
        if (fault.fp_status & (1u << bit)) return kNames[bit];
    return "no unmasked exception";
}

const char* exception_name(unsigned vector) { return vector < 32 ? kExceptionNames[vector] : "interrupt"; }

void describe_exception(kstd::FormatSink& out, const TrapFrame* frame, unsigned vector, uint64_t error_code) {
    kstd::format(out, "  error=0x%lx", error_code);
    if (vector == 14) {
        const uint64_t cr2 = x86::read_cr2();
        // [SDM vol3 §4.7] error code bits: P, W/R, U/S, RSVD, I/D.
        kstd::format(out, " cr2=%p (%s, %s%s%s)", reinterpret_cast<void*>(cr2),
                     error_code & 1 ? "protection violation" : "page not present",
                     error_code & 2    ? "write"
                     : error_code & 16 ? "instruction fetch"
                                       : "read",
                     error_code & 8 ? ", reserved bit set" : "",
                     cr2 < pte::level_size(0) ? ", NULL pointer: page 0 is never mapped" : "");
    }
    if (vector == 8) kstd::format(out, " (on the IST stack: a kernel stack overflow ends here)");
    kstd::format(out, "\n");
    describe_registers(out, frame);
}

void describe_registers(kstd::FormatSink& out, const TrapFrame* frame) {
    const TrapFrame& f = *frame;
    kstd::format(out, "  rax=%p rbx=%p rcx=%p rdx=%p\n", (void*)f.rax, (void*)f.rbx, (void*)f.rcx, (void*)f.rdx);
    kstd::format(out, "  rsi=%p rdi=%p rbp=%p rsp=%p\n", (void*)f.rsi, (void*)f.rdi, (void*)f.rbp, (void*)f.rsp);
    kstd::format(out, "  r8 =%p r9 =%p r10=%p r11=%p\n", (void*)f.r8, (void*)f.r9, (void*)f.r10, (void*)f.r11);
    kstd::format(out, "  r12=%p r13=%p r14=%p r15=%p\n", (void*)f.r12, (void*)f.r13, (void*)f.r14, (void*)f.r15);
    kstd::format(out, "  rip=%p cs=0x%lx rflags=%p ss=0x%lx\n", (void*)f.rip, f.cs, (void*)f.rflags, f.ss);
    kstd::format(out, "  cr0=%p cr3=%p cr4=%p\n", (void*)x86::read_cr0(), (void*)x86::read_cr3(), (void*)x86::read_cr4());
}

uint64_t frame_base_pointer(const TrapFrame* frame) { return frame->rbp; }

void set_kernel_exception_handler(KernelExceptionHandler handler) {
    __atomic_store_n(&g_kernel_exception_handler, handler, __ATOMIC_RELEASE);
}

void set_nmi_handler(NmiHandler handler) { __atomic_store_n(&g_nmi_handler, handler, __ATOMIC_RELEASE); }

void set_fault_handler(FaultHandler handler) { __atomic_store_n(&g_fault_handler, handler, __ATOMIC_RELEASE); }

void set_interrupt_handler(unsigned vector, InterruptHandler handler, void* context) {
    g_handler_contexts[vector] = context;
    __atomic_store_n(&g_handlers[vector], handler, __ATOMIC_RELEASE);
}

namespace {
x86::CpuDescriptorTables g_cpu_tables[kstd::kMaxCpus];
}  // namespace

x86::Tss& x86::cpu_tss(unsigned cpu_index) { return g_cpu_tables[cpu_index].tss; }

void init_cpu_interrupts(unsigned cpu_index, const uint64_t (&interrupt_stack_tops)[3]) {
    if (cpu_index >= kstd::kMaxCpus) halt_forever();  // the kernel caps CPU indices below kMaxCpus
    x86::load_cpu_descriptor_tables(g_cpu_tables[cpu_index], interrupt_stack_tops);
    x86::load_idt();
}

}  // namespace arch

extern "C" char user_copy_fault_begin[], user_copy_fault_end[], user_copy_fault_fixup[];
extern "C" uint8_t arch_smap_enabled;  // protections.cpp

namespace {

// What the fault handler is told about a program fault.
// [SDM vol3 §4.7] page-fault error code: bit 0 P (protection violation), bit 1 W/R, bit 4 I/D.
[[gnu::always_inline]] inline arch::FaultInfo program_fault(uint64_t vector, uint64_t error_code, bool from_user,
                                                            uint32_t fp_status) {
    return {arch::fault_kind(vector),
            static_cast<unsigned>(vector),
            error_code,
            vector == 14 ? arch::x86::read_cr2() : 0,
            (error_code & 1) == 0,
            (error_code & 2) != 0,
            from_user,
            (error_code & 16) != 0,
            fp_status};
}

}  // namespace

namespace {

// Exceptions other than a ring-3 page fault. Out of line: its FaultInfo (passed by reference)
// gives it a stack-protector canary and saved registers that the page fault does without.
[[gnu::noinline]] void exception_dispatch(arch::TrapFrame* frame, uint64_t vector, uint64_t error_code) {
    // A fault in ring 3 is the program's: the kernel's handler resolves it or ends the task. A
    // page fault inside copy_user is the kernel touching user memory on the program's behalf:
    // resolved the same way, or the copy fails. Anything else is a kernel bug.
    const bool from_user = arch::frame_is_user(frame);
    const arch::FaultHandler handler = __atomic_load_n(&arch::g_fault_handler, __ATOMIC_ACQUIRE);
    const bool in_user_copy = vector == 14 && frame->rip >= reinterpret_cast<uint64_t>(user_copy_fault_begin) &&
                              frame->rip < reinterpret_cast<uint64_t>(user_copy_fault_end);
    // Lazy switching: the task's first x87/SSE/AVX instruction since it was switched in.
    if (vector == 7 && from_user && arch::x86::take_extended_state_trap()) return;
    if (handler && arch::is_program_fault(vector) && (from_user || in_user_copy)) {
        const uint32_t fp_status = vector == 16   ? arch::x86::unmasked_x87_exceptions()
                                   : vector == 19 ? arch::x86::unmasked_simd_exceptions()
                                                  : 0;
        if (handler(frame, program_fault(vector, error_code, from_user, fp_status))) return;
        if (in_user_copy) {
            frame->rip = reinterpret_cast<uint64_t>(user_copy_fault_fixup);
            return;
        }
    }
    arch::kernel_exception(*frame, vector, error_code);
}

}  // namespace

static_assert(arch::kPageFaultVector == 14 && arch::kPageFaultProtection == 1 && arch::kPageFaultWrite == 2 &&
                  arch::kPageFaultFetch == 16,
              "the contract's page-fault bits are the error code's P, W/R and I/D [SDM vol3 §4.7]");

extern "C" void trap_dispatch(arch::TrapFrame* frame, uint64_t vector, uint64_t error_code) {
    // RFLAGS.AC comes in as ring 3 left it (popf sets it) or as arch_user_copy set it, and SMAP
    // would let the handler touch user pages: it runs with AC clear, iretq restores the old.
    if (arch_smap_enabled) asm volatile("clac" ::: "memory");
    // The exception that comes by far most often, a page fault in ring 3 (stack growth, a first
    // touch, copy-on-write), goes straight to the kernel's hook with the address and the error
    // code, before the checks of exception_dispatch, none of which applies to it.
    if (vector == 14 && arch::frame_is_user(frame)) {
        if (user_page_fault_hook(frame, arch::x86::read_cr2(), error_code)) return;
        arch::kernel_exception(*frame, vector, error_code);
    }
    if (vector < 32) return exception_dispatch(frame, vector, error_code);
    const arch::InterruptHandler handler = __atomic_load_n(&arch::g_handlers[vector], __ATOMIC_ACQUIRE);
    if (handler) handler(frame, arch::g_handler_contexts[vector]);
}

// NMIs come here from their own entry (isr_stubs.S, nmi_common), not through trap_dispatch: the
// registered handler first, and what it does not claim is an exception nothing can resolve.
extern "C" void nmi_dispatch(arch::TrapFrame* frame) {
    if (arch_smap_enabled) asm volatile("clac" ::: "memory");
    const arch::NmiHandler handler = __atomic_load_n(&arch::g_nmi_handler, __ATOMIC_ACQUIRE);
    if (handler && handler(frame)) return;
    arch::kernel_exception(*frame, arch::kVectorNmi, 0);
}
