// The register frame every interrupt and exception entry builds on the ring-0 stack
// (isr_stubs.S). Its layout is the seed's task stack table: a task's saved RSP points at r15,
// and popping r15..rax then `iretq` resumes it (docs/tasks.md draws it).
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
static_assert(offsetof(TrapFrame, r15) == 0);
static_assert(offsetof(TrapFrame, rbp) == 64);
static_assert(offsetof(TrapFrame, rdx) == 80);
static_assert(offsetof(TrapFrame, rdi) == 104);
static_assert(offsetof(TrapFrame, rax) == 112);
static_assert(offsetof(TrapFrame, rip) == TRAP_FRAME_RIP);
static_assert(offsetof(TrapFrame, cs) == TRAP_FRAME_CS);
static_assert(offsetof(TrapFrame, rflags) == TRAP_FRAME_RFLAGS);
static_assert(offsetof(TrapFrame, rsp) == TRAP_FRAME_RSP);
static_assert(offsetof(TrapFrame, ss) == 152);
static_assert(sizeof(TrapFrame) == TRAP_FRAME_BYTES);

}  // namespace arch
