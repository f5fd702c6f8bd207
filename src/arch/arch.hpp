// The arch contract: everything kernel/ needs from the CPU, implemented in src/arch/x86_64/.
// Kernel core code includes this header, never <arch/cpu.hpp> (which is x86-private).
#pragma once

#include <stdint.h>

namespace arch {

// Stops this CPU for good: interrupts off, hlt in a loop.
[[noreturn]] void halt_forever();

// Stops every other CPU (panic path) with an NMI broadcast.
void stop_other_cpus();

// Ends a QEMU run with a verdict through the isa-debug-exit device. On a machine without that
// device the write goes nowhere and this returns.
void exit_emulator(bool passed);

// Interrupt flag: returns whether interrupts were on, then turns them off; restore puts it back.
bool save_and_disable_interrupts();
void restore_interrupts(bool were_enabled);
// Spin-wait hint (x86 `pause`): lets a hyperthread sibling run and saves power while spinning.
void cpu_relax();

// Raw timestamp counter, and its frequency measured against the PIT (0 until calibrated).
uint64_t timestamp();
uint64_t calibrate_timestamp_hz();

// True when a hypervisor announces itself (CPUID.1:ECX[31]); gates probing of QEMU devices.
bool running_under_hypervisor();

// The register state a panic can report without an exception frame.
struct RegisterSnapshot {
    uint64_t rip, rsp, rbp, rflags;
    uint64_t cr0, cr2, cr3, cr4, efer;
};
// Captures the caller's registers; rip is the return address into the caller.
void capture_registers(RegisterSnapshot& out);

// Walks saved frame pointers from `rbp`, calling visit(return_address) up to max_frames times.
// Stops at a null or non-canonical frame pointer, or one outside the identity-mapped low 4 GiB.
void walk_stack(uint64_t rbp, unsigned max_frames, void (*visit)(uint64_t return_address, void* ctx),
                void* ctx);

// Walks the active page tables (identity-mapped at boot): true and the physical address if
// `virt_addr` is mapped. Used by self tests to check what the boot stub built.
bool translate(uint64_t virt_addr, uint64_t* phys_addr);

// Paging: the one TLB-invalidation entry point (SMP shootdown hooks in here later), loading a
// new top-level table, and the CPU features the page-table code must respect.
void invalidate_tlb_page(uint64_t virt_addr);
void load_page_table_root(uint64_t root_phys);
bool cpu_supports_no_execute();
bool cpu_supports_1g_pages();

// Loads this CPU's GDT, its TSS (with the interrupt-stack tops for #DF, NMI and #MC, each a
// stack with a guard page) and the IDT. Exceptions are reported and fatal from then on.
void init_cpu_interrupts(unsigned cpu_index, const uint64_t (&interrupt_stack_tops)[3]);

// Interrupt handlers for vectors 32..255. A handler returns the stack pointer to resume from:
// the frame it got, or another task's saved frame (how the scheduler switches tasks).
struct TrapFrame;
using InterruptHandler = uint64_t (*)(TrapFrame* frame, void* context);
void set_interrupt_handler(unsigned vector, InterruptHandler handler, void* context);

// Builds a new kernel task's initial stack below `stack_top` in the seed's layout (SS, RSP,
// RFLAGS=0x200202, CS, RIP, then RAX..R15 with RDX = parameter) and returns the RSP to save in
// the task list: switching to it pops the registers and `iretq`s into `entry(parameter)`.
uint64_t build_kernel_task_frame(uint64_t stack_top, void (*entry)(uint64_t), uint64_t parameter);
// Software interrupt into the scheduler (vector kVectorYield) with an operation and an argument.
void scheduler_trap(uint64_t operation, uint64_t argument);
// The operation and argument scheduler_trap() left in the frame it built.
uint64_t scheduler_trap_operation(const TrapFrame* frame);
uint64_t scheduler_trap_argument(const TrapFrame* frame);
void load_address_space(uint64_t pml4_phys);

}  // namespace arch
