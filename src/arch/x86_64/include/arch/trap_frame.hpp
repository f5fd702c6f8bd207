// The register frames on a ring-0 stack: the TrapFrame every interrupt, exception and system-call
// entry builds (isr_stubs.S, user_entry.S) in the layout of the seed's task stack table, and the
// SwitchFrame a suspended task's saved RSP points at (task_entry.S); docs/tasks.md draws both.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <arch/x86_defs.h>

namespace arch {

struct TrapFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;  // pushed last by isr_common
    uint64_t rbp, rsi, rdx, rcx, rbx, rdi, rax;     // rdx carries a new task's parameter
    uint64_t rip, cs, rflags, rsp, ss;              // pushed by the CPU (iretq pops them)
};

// The task stack table, offsets from the saved RSP; isr_stubs.S pushes in this order and the
// entry assembly reads the offsets it needs from <arch/x86_defs.h>.
static_assert(offsetof(TrapFrame, r15) == TRAP_FRAME_R15);
static_assert(offsetof(TrapFrame, r14) == TRAP_FRAME_R14);
static_assert(offsetof(TrapFrame, r13) == TRAP_FRAME_R13);
static_assert(offsetof(TrapFrame, r12) == TRAP_FRAME_R12);
static_assert(offsetof(TrapFrame, r11) == TRAP_FRAME_R11);
static_assert(offsetof(TrapFrame, r10) == TRAP_FRAME_R10);
static_assert(offsetof(TrapFrame, r9) == TRAP_FRAME_R9);
static_assert(offsetof(TrapFrame, r8) == TRAP_FRAME_R8);
static_assert(offsetof(TrapFrame, rbp) == TRAP_FRAME_RBP);
static_assert(offsetof(TrapFrame, rsi) == TRAP_FRAME_RSI);
static_assert(offsetof(TrapFrame, rdx) == TRAP_FRAME_RDX);
static_assert(offsetof(TrapFrame, rcx) == TRAP_FRAME_RCX);
static_assert(offsetof(TrapFrame, rbx) == TRAP_FRAME_RBX);
static_assert(offsetof(TrapFrame, rdi) == TRAP_FRAME_RDI);
static_assert(offsetof(TrapFrame, rax) == TRAP_FRAME_RAX);
static_assert(offsetof(TrapFrame, rip) == TRAP_FRAME_RIP);
static_assert(offsetof(TrapFrame, cs) == TRAP_FRAME_CS);
static_assert(offsetof(TrapFrame, rflags) == TRAP_FRAME_RFLAGS);
static_assert(offsetof(TrapFrame, rsp) == TRAP_FRAME_RSP);
static_assert(offsetof(TrapFrame, ss) == 152);
static_assert(sizeof(TrapFrame) == TRAP_FRAME_BYTES);

// What arch_switch_context pushes (task_entry.S, in this order from R15 up): the callee-saved
// registers and the address it returns to. A new task's is built by task_frame.cpp right below
// its TrapFrame, returning into isr_return_to_frame.
struct SwitchFrame {
    uint64_t r15, r14, r13, r12, rbx, rbp;
    uint64_t rip;
};
static_assert(offsetof(SwitchFrame, r15) == 0);
static_assert(offsetof(SwitchFrame, rbp) == 40);
static_assert(offsetof(SwitchFrame, rip) == 48);
static_assert(sizeof(SwitchFrame) == 56);

namespace x86 {
// Puts a SwitchFrame right below `frame` that returns into isr_return_to_frame, and returns its
// address: the saved RSP of a task that has never run (task_frame.cpp).
uint64_t resume_through_frame(TrapFrame* frame);
}  // namespace x86

}  // namespace arch
