// The register frame every interrupt and exception entry builds on the ring-0 stack
// (isr_stubs.S). Its layout is the seed's task stack table: a task's saved RSP points at r15,
// and popping r15..rax then `iretq` resumes it (docs/tasks.md draws it).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace arch {

struct TrapFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;  // pushed last by isr_common
    uint64_t rbp, rsi, rdx, rcx, rbx, rdi, rax;     // rdx carries a new task's parameter
    uint64_t rip, cs, rflags, rsp, ss;              // pushed by the CPU (iretq pops them)
};

// The seed's table [brief §3], offsets from the saved RSP. isr_stubs.S pushes in this order.
static_assert(offsetof(TrapFrame, r15) == 0);
static_assert(offsetof(TrapFrame, rbp) == 64);
static_assert(offsetof(TrapFrame, rdx) == 80);
static_assert(offsetof(TrapFrame, rdi) == 104);
static_assert(offsetof(TrapFrame, rax) == 112);
static_assert(offsetof(TrapFrame, rip) == 120);
static_assert(offsetof(TrapFrame, cs) == 128);
static_assert(offsetof(TrapFrame, rflags) == 136);
static_assert(offsetof(TrapFrame, rsp) == 144);
static_assert(offsetof(TrapFrame, ss) == 152);
static_assert(sizeof(TrapFrame) == 160);

}  // namespace arch
