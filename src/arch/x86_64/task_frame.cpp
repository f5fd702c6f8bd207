// The initial stack of a new kernel task: exactly the seed's table, so the first
// switch to it is the same pop-and-iretq as every other switch.
#include <arch/descriptors.hpp>
#include <arch/trap_frame.hpp>

#include "arch/arch.hpp"

extern "C" char kernel_task_trampoline[];

namespace arch {

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
    return reinterpret_cast<uint64_t>(frame);
}

uint64_t scheduler_trap_operation(const TrapFrame* frame) { return frame->rax; }
uint64_t scheduler_trap_argument(const TrapFrame* frame) { return frame->rdi; }

}  // namespace arch
