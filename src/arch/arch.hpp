// The arch contract: everything kernel/ needs from the CPU, implemented in src/arch/x86_64/.
// Kernel core code includes this header, never <arch/cpu.hpp> (which is x86-private).
#pragma once

#include <stdint.h>

namespace kstd {
class FormatSink;
}

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
// The idle loop's wait: turns interrupts on and halts until one arrives, as one step (no
// interrupt can slip in between and leave the CPU halted with work queued).
void wait_for_interrupt();

// Legacy I/O ports (the PC's port space: COM1, the VGA CRT controller, QEMU's fw_cfg).
uint8_t port_read8(uint16_t port);
void port_write8(uint16_t port, uint8_t value);
void port_write16(uint16_t port, uint16_t value);
uint16_t port_read16(uint16_t port);
uint32_t port_read32(uint16_t port);
void port_write32(uint16_t port, uint32_t value);

// The machine's own ways to reset, in the order to try them after the FADT's reset register
// (reset.cpp). Each returns only if the machine is still running.
struct ResetMethod {
    const char* name;         // the word sable.reset= takes: "cf9", "keyboard", "triple-fault"
    const char* description;  // what the log line says is being tried
    void (*attempt)();
};
extern const ResetMethod kResetMethods[];
extern const unsigned kResetMethodCount;

// Raw timestamp counter, and its frequency: stated by the CPU where it does (CPUID), else
// measured against a reference (the PIT) over a window that begin_timestamp_calibration opens at
// boot and calibrate_timestamp_hz closes when the rate is first needed, so the boot's own work
// fills it and the close waits only for what the window still lacks. 0 if the reference never
// counted.
uint64_t timestamp();
void begin_timestamp_calibration();
uint64_t calibrate_timestamp_hz();
// While the window is open: the time since it opened by the reference itself (the PIT: 838 ns
// steps, no further than its 55 ms range), so that log lines before the rate is known have times.
uint64_t calibration_elapsed_ns();
// The timestamp when the boot stub had checked the CPU: where the boot_to_init benchmark starts.
uint64_t boot_entry_timestamp();

// True when a hypervisor announces itself (CPUID.1:ECX[31]); gates probing of QEMU devices.
bool running_under_hypervisor();

// The register state a panic can report without an exception frame.
struct RegisterSnapshot {
    uint64_t rip, rsp, rbp, rflags;
    uint64_t cr0, cr2, cr3, cr4, efer;
};
// Captures the caller's registers; rip is the return address into the caller.
void capture_registers(RegisterSnapshot& out);

// Walks the active page tables (identity-mapped at boot): true and the physical address if
// `virt_addr` is mapped. Used by self tests to check what the boot stub built.
bool translate(uint64_t virt_addr, uint64_t* phys_addr);

// Paging: invalidating one TLB entry on this CPU (the kernel address space reaches every CPU
// through the shootdown smp/ installs with kernel::set_tlb_invalidator), loading a
// new top-level table, and the CPU features the page-table code must respect.
void invalidate_tlb_page(uint64_t virt_addr);
// Drops every non-global TLB entry of this CPU (a long range: cheaper than page by page).
void flush_tlb_non_global();
void load_page_table_root(uint64_t root_phys);
bool cpu_supports_no_execute();
bool cpu_supports_1g_pages();
// This CPU's page attribute table: the power-on entries plus one write-combining entry
// (pte::kPatMsrValue), so mappings with mm::kPageWriteCombining mean the same on every CPU.
// Each CPU runs it before it touches such a mapping. False if the CPU has no PAT (those pages
// are then write-through).
bool init_memory_types();
// Drains this CPU's write-combining buffers: stores to a write-combining mapping are weakly
// ordered, so they must reach memory before another CPU may write the same pixels.
void write_combining_fence();

// Loads this CPU's GDT, its TSS (with the interrupt-stack tops for #DF, NMI and #MC, each a
// stack with a guard page) and the IDT. Exceptions are reported and fatal from then on.
void init_cpu_interrupts(unsigned cpu_index, const uint64_t (&interrupt_stack_tops)[3]);

// Interrupt handlers for vectors 32..255, called with the interrupted context's frame and
// interrupts off. A handler that switches tasks (the scheduler's) calls switch_context itself:
// the task it interrupted stays suspended inside the handler until it is switched back to, then
// returns from it and from the interrupt.
struct TrapFrame;
using InterruptHandler = void (*)(TrapFrame* frame, void* context);
void set_interrupt_handler(unsigned vector, InterruptHandler handler, void* context);

// The task switch (docs/tasks.md draws it), interrupts off: saves the caller's callee-saved
// registers and return address on its stack, stores that RSP in *saved_rsp, loads next_rsp (one
// that switch_context stored, or one the build_*_frame functions below returned), clears
// *previous_on_cpu once off the previous stack (from then on another CPU may resume that task)
// and resumes the next task: it returns from the switch_context call that suspended it, or
// starts from its initial frame. It returns here when this task is switched back to.
void switch_context(uint64_t* saved_rsp, uint64_t next_rsp, uint32_t* previous_on_cpu);

// Builds a new kernel task's initial stack below `stack_top` in the seed's layout (SS, RSP,
// RFLAGS=0x200202, CS, RIP, then RAX..R15 with RDX = parameter) and returns the RSP to save in
// the task list: the first switch_context to it pops the registers and `iretq`s into
// `entry(parameter)`.
uint64_t build_kernel_task_frame(uint64_t stack_top, void (*entry)(uint64_t), uint64_t parameter);
void load_address_space(uint64_t pml4_phys);

// ---- user mode (user_mode.cpp, user_entry.S) ----------------------------------------------
// The per-CPU block the GS base points at must leave its first four words to the entry code
// (arch/percpu_offsets.h): self pointer, syscall entry stack, user-RSP scratch, TSS.RSP0's address.

// This CPU: `syscall` enabled (EFER.SCE), its entry point and flag mask (IF, DF, TF, AC cleared
// on entry), the user/kernel selectors for SYSRET, the protections below, and x87, SSE and AVX
// on for ring 3 (below; the boot CPU, index 0, picks the save method every CPU then uses).
void init_user_mode(unsigned cpu_index);

// ---- protections (protections.cpp; docs/security.md) ---------------------------------------
// init_user_mode turns on what the CPU has: UMIP (sgdt, sidt, sldt, smsw, str raise #GP in
// ring 3), SMEP (the kernel never executes a user page) and SMAP (the kernel touches user pages
// only inside copy_user). "umip on, smep on, smap on, ..." for the boot log.
void describe_protections(char* buffer, uint64_t capacity);
bool user_access_prevention_on();  // SMAP
bool user_execution_prevention_on();  // SMEP
// A value nobody can predict at boot (the stack protector's canary): RDRAND when the CPU has
// it, else the TSC; *source says which ("rdrand", "tsc"). Runs before anything needs the heap.
uint64_t boot_entropy(const char** source);
// For a kernel-mode exception: "SMAP" if it was a data access to a user page outside copy_user
// (*address = the page's address), "SMEP" if the kernel executed one; nullptr otherwise. It
// reads the active page tables at physical address + the offset last set here: 0 (the boot
// identity map) until the kernel says its direct map is live, which every address space has.
const char* broken_protection(const TrapFrame* frame, unsigned vector, uint64_t error_code, uint64_t* address);
void set_page_table_view_offset(uint64_t offset);

// ---- extended register state: x87, SSE, AVX (extended_state.cpp) ----------------------------
// The kernel is built without SSE and never touches these registers, so a user task's values
// stay in them while it runs kernel code; the scheduler moves them to and from a save area of
// extended_state_size() bytes, aligned to kExtendedStateAlignment, per user task.
uint32_t extended_state_size();
// The state a new program starts with, whatever ran before: x87 control word 0x37F, MXCSR
// 0x1F80 (all exceptions masked, round to nearest), every data register zero.
void extended_state_init(void* area);
// This CPU's registers to `area` and back. A save into an area must follow a restore from that
// same area on this CPU (XSAVEOPT skips what is unchanged since that restore).
void extended_state_save(void* area);
void extended_state_restore(const void* area);
// Both at once (a switch from one user task to another): save into one area, load the other.
void extended_state_switch(void* save_area, const void* restore_area);
// Lazy switching: after trap_next_use, the next x87/SSE/AVX instruction on this CPU raises #NM,
// which from ring 3 goes to the registered handler first; it returns true once it has called
// allow_use and loaded the task's registers (the instruction is then retried).
void extended_state_trap_next_use();
void extended_state_allow_use();
using ExtendedStateTrapHandler = bool (*)();
void set_extended_state_trap_handler(ExtendedStateTrapHandler handler);
// The boot CPU's choice for the log: "xsave (xsaveopt) area=832 bytes components=x87,sse,avx".
void describe_extended_state(char* buffer, uint64_t capacity);
// The ring-0 stack the next entry from ring 3 on this CPU lands on (TSS.RSP0 and the syscall
// stack): the stack of the user task about to run. Interrupts off.
void set_user_entry_stack(uint64_t stack_top);

// Initial frame of a user task (seed's table, ring-3 selectors with RPL 3): the first switch
// to it `iretq`s to `entry` at CPL 3 with RSP = user_rsp, RDI = arg0, RSI = arg1.
uint64_t build_user_task_frame(uint64_t kernel_stack_top, uint64_t entry, uint64_t user_rsp, uint64_t arg0,
                               uint64_t arg1);
// A copy of `frame` (a task's entry frame from ring 3) at the top of another kernel stack, with
// RAX replaced: fork's child resumes where the parent made the call, seeing `rax`.
uint64_t build_forked_task_frame(uint64_t kernel_stack_top, const TrapFrame* frame, uint64_t rax);

bool frame_is_user(const TrapFrame* frame);
bool frame_interrupts_enabled(const TrapFrame* frame);  // IF in the interrupted context
uint64_t frame_instruction_pointer(const TrapFrame* frame);
uint64_t frame_stack_pointer(const TrapFrame* frame);
// The calling user task's system-call frame (at the top of its kernel stack, syscall_entry built
// it): for fork's child and a kill report's RIP. Only inside a system call. RIP, CS, RFLAGS, RSP,
// SS and the argument registers are always valid; the rest only inside a handler entered
// through a thunk that completes the frame (syscall_fork).
TrapFrame* syscall_frame();

// Copies between kernel and user memory; false if a user page faulted and the fault handler
// could not resolve it. The caller has checked the range lies in user space.
bool copy_user(void* destination, const void* source, uint64_t size);

// CPU exceptions. The handler gets every exception from ring 3, and page faults raised by
// copy_user. It returns true to resume (e.g. a stack page was committed); false means: a user
// fault the kernel could not resolve — inside copy_user the copy then fails, elsewhere the
// handler is expected not to return at all (it ends the task).
enum class FaultKind : uint8_t {
    DivideError, Debug, Breakpoint, Overflow, BoundRange, InvalidOpcode, DeviceNotAvailable,
    GeneralProtection, StackSegment, SegmentNotPresent, PageFault, X87Error, AlignmentCheck,
    SimdError, ControlProtection, Other,
};
struct FaultInfo {
    FaultKind kind;
    unsigned vector;
    uint64_t error_code;
    uint64_t address;      // page faults: the faulting address (CR2)
    bool not_present;      // page faults: the page was absent (else: a protection violation)
    bool write;            // page faults: a write access
    bool from_user;        // raised in ring 3 (else inside copy_user)
    bool instruction_fetch;  // page faults: fetching an instruction (NX or not present)
    uint32_t fp_status;    // #MF: the x87 status word; #XM: MXCSR (the raised flags)
};
using FaultHandler = bool (*)(TrapFrame* frame, const FaultInfo& fault);
void set_fault_handler(FaultHandler handler);
// Except the most frequent exception, a page fault in ring 3 (a stack page, a first touch, a
// copy-on-write): the arch calls the kernel's user_page_fault_hook (the end of this file) with
// the address and these access bits, no FaultInfo, no handler pointer. The bits are x86's
// error-code bits [SDM vol3 §4.7], so the code passes through as it is (others may be set).
inline constexpr uint64_t kPageFaultProtection = 1;  // a protection violation (else: not present)
inline constexpr uint64_t kPageFaultWrite = 2;
inline constexpr uint64_t kPageFaultFetch = 16;  // an instruction fetch
inline constexpr unsigned kPageFaultVector = 14;  // FaultInfo::vector of a page fault
const char* describe(FaultKind kind);  // "divide error", "page fault", ...
// #MF and #XM: the first unmasked exception raised, from fp_status ("divide by zero", ...).
const char* describe_floating_point_error(const FaultInfo& fault);

// Exceptions nothing can resolve: a fault in kernel code outside copy_user, #DF and #MC from
// anywhere, and an NMI the NMI handler below did not claim (the panic path's NMI to stop other
// CPUs arrives here). The handler reports and stops; it never returns. Arch code knows nothing
// of the kernel's console or panic path: until a handler is registered, such an exception just
// halts the CPU.
using KernelExceptionHandler = void (*)(const TrapFrame* frame, unsigned vector, uint64_t error_code);
void set_kernel_exception_handler(KernelExceptionHandler handler);
// "#PF page fault", "#DF double fault", ... for vectors 0..31.
const char* exception_name(unsigned vector);
// The rest of an exception report, one line each: "  error=0x.." (with CR2 decoded for #PF, and
// a note for #DF), the general registers, RIP/CS/RFLAGS/SS and the control registers.
void describe_exception(kstd::FormatSink& out, const TrapFrame* frame, unsigned vector, uint64_t error_code);
uint64_t frame_base_pointer(const TrapFrame* frame);  // RBP, where a backtrace starts
// The register lines of that report alone (general registers, RIP/CS/RFLAGS/SS, control
// registers), for a dump of a context that did not fault (the watchdog's NMI).
void describe_registers(kstd::FormatSink& out, const TrapFrame* frame);

// NMIs go first to this handler, on the NMI's own stack, with the interrupted context's frame,
// wherever it was (ring 3, the kernel with interrupts off, the entry code on either side of
// `swapgs`: the per-CPU base is the kernel's whatever the frame says). It returns true if the
// NMI was its own, to resume the frame; false passes it on to the kernel exception handler.
using NmiHandler = bool (*)(const TrapFrame* frame);
void set_nmi_handler(NmiHandler handler);

// Interrupts on (the kill path of a task that faulted runs like a system call).
void interrupts_on();

// ---- CPUs: per-CPU data, inter-processor interrupts, start-up (cpu.cpp, smp_startup.cpp) ----
// Points this CPU's per-CPU base (GS) at `block`, whose first words the entry assembly reads
// (<arch/percpu_offsets.h>: the block's own address first); cpu_local_base() reads it back.
void set_cpu_local_base(void* block);
inline void* cpu_local_base();  // defined by <arch/impl.hpp>: it is on every hot path
// template <unsigned Offset> void* cpu_local_word(): the block's word at Offset in one load
// (<arch/impl.hpp>), for fields a task reads about itself without turning interrupts off.
// This CPU's local APIC id, as the firmware tables list it.
uint32_t this_cpu_apic_id();
// A fixed-vector interrupt to the CPU with `apic_id` (a wake-up, a remote call).
void send_ipi(uint32_t apic_id, uint8_t vector);
// A non-maskable interrupt to the CPU with `apic_id`: it arrives even with interrupts off
// (the watchdog's way into a stuck CPU).
void send_nmi(uint32_t apic_id);
// Acknowledges the interrupt being handled to this CPU's interrupt controller.
void end_of_interrupt();
// AP start-up [SDM vol3 §8.4.4.1]: copies the real-mode trampoline to its page below 1 MiB and
// fills in what it needs — the root page table (below 4 GiB: the trampoline loads it in 32-bit
// mode), a table of stack tops indexed by APIC id, and the 64-bit entry, called with the APIC
// id. False if the root table lies above 4 GiB. The page stays in use until every AP is up.
bool install_ap_trampoline(uint64_t root_table_phys, const uint64_t* stack_top_by_apic_id,
                           void (*entry)(uint64_t apic_id));
uint64_t ap_trampoline_phys();
// The start-up signals, to one CPU: INIT, then STARTUP at the installed trampoline.
void send_init(uint32_t apic_id);
void send_startup(uint32_t apic_id);
// Whether this machine's CPUs need the 10 ms between INIT and STARTUP (docs/smp.md says which).
bool init_needs_settle_delay();

}  // namespace arch

// The data side of the contract: page-table encoding, the per-CPU block's entry offsets and the
// kernel image's extent, in the kernel from src/arch/x86_64/include, on the host from
// test/fake_arch.
#include <arch/impl.hpp>

namespace arch {
// Every implementation of the data side — x86-64's and the host fake's — provides exactly what
// portable code uses; a missing or renamed one fails here, in whichever build includes it.
template <typename = void>
concept DataSide = requires(uint64_t address, uint64_t entry, unsigned level) {
    pte::kLevels;
    pte::kEntriesPerTable;
    pte::kVirtualAddressBits;
    pte::kPresent | pte::kWritable | pte::kUser | pte::kHuge | pte::kNoExecute | pte::kGlobal | pte::kCopyOnWrite;
    pte::index(address, level);
    pte::level_shift(level);
    pte::is_canonical(address);
    pte::canonical(address);
    pte::is_present(entry);
    pte::is_leaf(entry, level);
    pte::next_table(entry);
    pte::leaf_address(entry, level);
    pte::make_table(address, true);
    pte::memory_type_bits(pte::kPatIndexWriteCombining, level);
    pte::memory_type_index(entry, level);
    kVectorWakeIpi;
    kVectorRemoteCallIpi;
    kLegacyCom1Port;
    kExtendedStateAlignment;
    cpu_local_base();
};
static_assert(DataSide<>, "the arch implementation's data side does not match the contract");
static_assert(__is_same(decltype(cpu_local_base()), void*) && __is_same(decltype(kVectorWakeIpi), const uint8_t));
}  // namespace arch

// Provided by the kernel, called by the entry assembly with interrupts on: system call `number`
// is syscall_table[number](a0, a1, a2, a3) (the ABI's RDI, RSI, RDX, R10) for number <
// syscall_count, and syscall_table[syscall_count] (-ENOSYS) for any other; the result goes to RAX.
// syscall_table is an array of syscall_count + 1 SyscallHandlers (declared by its definer alone).
// The entry leaves the callee-saved registers' slots of the frame unwritten: a handler that
// needs syscall_frame() whole is entered through an arch thunk that completes it first (fork:
// syscall_fork_whole_frame, provided by the arch, which jumps to syscall_fork).
using SyscallHandler = int64_t (*)(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);
extern "C" const uint64_t syscall_count;
extern "C" int64_t syscall_fork_whole_frame(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);
extern "C" int64_t syscall_fork(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);
// Before every return to ring 3 through iretq, interrupts off, on the resumed task's stack.
extern "C" void return_to_user_hook(arch::TrapFrame* frame);
// Provided by the kernel, called by the exception path for a page fault raised in ring 3, with
// interrupts off: the faulting address and arch::kPageFault* bits in `access`. True: resume the
// task; false: nothing could (the fault is reported as a kernel exception).
extern "C" bool user_page_fault_hook(arch::TrapFrame* frame, uint64_t address, uint64_t access);
