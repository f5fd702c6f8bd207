// Ring 3 for the arch contract: the SYSCALL MSRs, the entry stack, user task frames and the
// register conventions of the system-call ABI (src/user/include/sable/abi.h).
#include <arch/percpu_offsets.h>
#include <arch/cpu.hpp>
#include <arch/descriptors.hpp>
#include <arch/extended_state.hpp>
#include <arch/trap_frame.hpp>

#include "arch/arch.hpp"

extern "C" char syscall_entry[];
extern "C" uint64_t arch_user_copy(void* destination, const void* source, uint64_t size);

namespace arch {

using namespace x86;

namespace {
// RFLAGS bits masked on entry: TF (no single-stepping into the kernel), IF (off until the frame
// is saved), DF (the ABI wants it clear), NT, AC (no user-granted alignment checks in ring 0).
constexpr uint64_t kEntryFlagMask = X86_RFLAGS_TF | X86_RFLAGS_IF | X86_RFLAGS_DF | X86_RFLAGS_NT | X86_RFLAGS_AC;
}  // namespace

void init_user_mode(unsigned cpu_index) {
    wrmsr(kMsrEfer, rdmsr(kMsrEfer) | kEferSyscallEnable);
    // [SDM vol2 SYSCALL/SYSRET] STAR[47:32]: kernel CS (SS = +8); STAR[63:48]: base for SYSRET,
    // which loads SS = base + 8 and CS = base + 16, both with RPL 3 — hence the GDT order.
    const uint64_t sysret_base = kKernelDataSelector;  // 0x10: SS 0x18|3, CS 0x20|3
    wrmsr(kMsrStar, (uint64_t{kKernelCodeSelector} << 32) | (sysret_base << 48));
    wrmsr(kMsrLstar, reinterpret_cast<uint64_t>(syscall_entry));
    wrmsr(kMsrFmask, kEntryFlagMask);
    wrmsr(kMsrKernelGsBase, 0);  // what ring 3 sees after the first swapgs
    init_protections();
    init_extended_state(cpu_index);
    asm volatile("movq %0, %%gs:%c1" ::"r"(&cpu_tss(cpu_index).rsp[0]), "i"(PERCPU_TSS_RSP0) : "memory");
    set_user_entry_stack(0);
}

void set_user_entry_stack(uint64_t stack_top) {
    uint64_t* tss_rsp0;
    asm volatile("movq %%gs:%c1, %0" : "=r"(tss_rsp0) : "i"(PERCPU_TSS_RSP0));
    *tss_rsp0 = stack_top;
    asm volatile("movq %0, %%gs:%c1" ::"r"(stack_top), "i"(PERCPU_ENTRY_RSP) : "memory");
}

uint64_t build_user_task_frame(uint64_t kernel_stack_top, uint64_t entry, uint64_t user_rsp, uint64_t arg0,
                               uint64_t arg1) {
    auto* frame = reinterpret_cast<TrapFrame*>(kernel_stack_top - sizeof(TrapFrame));
    *frame = {};
    frame->ss = kUserDataSelector;
    frame->rsp = user_rsp;
    frame->rflags = X86_RFLAGS_NEW_TASK;
    frame->cs = kUserCodeSelector;
    frame->rip = entry;
    frame->rdi = arg0;
    frame->rsi = arg1;
    return resume_through_frame(frame);
}

uint64_t build_forked_task_frame(uint64_t kernel_stack_top, const TrapFrame* from, uint64_t rax) {
    auto* frame = reinterpret_cast<TrapFrame*>(kernel_stack_top - sizeof(TrapFrame));
    *frame = *from;
    frame->rax = rax;
    return resume_through_frame(frame);
}

bool frame_is_user(const TrapFrame* frame) { return (frame->cs & 3) == 3; }
bool frame_interrupts_enabled(const TrapFrame* frame) { return frame->rflags & X86_RFLAGS_IF; }
uint64_t frame_instruction_pointer(const TrapFrame* frame) { return frame->rip; }
uint64_t frame_stack_pointer(const TrapFrame* frame) { return frame->rsp; }

TrapFrame* syscall_frame() {
    // The entry stack is the task's own stack top on whichever CPU it runs: no interrupts-off
    // window needed, and the load may be shared with any other in the same call.
    uint64_t stack_top;
    asm("mov %%gs:%c1, %0" : "=r"(stack_top) : "i"(PERCPU_ENTRY_RSP));
    return reinterpret_cast<TrapFrame*>(stack_top) - 1;
}

bool copy_user(void* destination, const void* source, uint64_t size) {
    return size == 0 || arch_user_copy(destination, source, size) == 0;
}

void interrupts_on() { x86::enable_interrupts(); }

}  // namespace arch
