// A new task's initial stack and the task switch: a new task's stack holds the seed's table (a
// TrapFrame) with a SwitchFrame below it that returns into isr_return_to_frame, so the first
// switch to it is the same pop-and-ret as every other switch (task_entry.S says why).
#include <arch/descriptors.hpp>
#include <arch/trap_frame.hpp>

#include "arch/arch.hpp"

extern "C" char kernel_task_trampoline[];
extern "C" char isr_return_to_frame[];
extern "C" void arch_switch_context(uint64_t* saved_rsp, uint64_t next_rsp, uint32_t* previous_on_cpu);

namespace arch {

void switch_context(uint64_t* saved_rsp, uint64_t next_rsp, uint32_t* previous_on_cpu) {
    arch_switch_context(saved_rsp, next_rsp, previous_on_cpu);
}

namespace x86 {
uint64_t resume_through_frame(TrapFrame* frame) {
    auto* switch_frame = reinterpret_cast<SwitchFrame*>(frame) - 1;
    *switch_frame = {};  // a new task's callee-saved registers: zero, like the rest of its frame
    switch_frame->rip = reinterpret_cast<uint64_t>(isr_return_to_frame);
    return reinterpret_cast<uint64_t>(switch_frame);
}
}  // namespace x86

uint64_t build_kernel_task_frame(uint64_t stack_top, void (*entry)(uint64_t), uint64_t parameter) {
    auto* top = reinterpret_cast<uint64_t*>(stack_top);
    top[-1] = 0;                                   // padding: keeps the frame 16-byte aligned
    top[-2] = reinterpret_cast<uint64_t>(entry);   // popped by kernel_task_trampoline
    auto* frame = reinterpret_cast<TrapFrame*>(stack_top - 16 - sizeof(TrapFrame));
    *frame = {};
    frame->ss = 0;  // the seed's kernel-task SS: a null selector is valid at CPL 0 in long mode
    frame->rsp = stack_top - 16;
    frame->rflags = X86_RFLAGS_NEW_TASK;
    frame->cs = x86::kKernelCodeSelector;
    frame->rip = reinterpret_cast<uint64_t>(kernel_task_trampoline);
    frame->rdx = parameter;  // the seed's "parameter passed to the thread"
    return x86::resume_through_frame(frame);
}

}  // namespace arch
