// The arch contract (src/arch/arch.hpp) for x86-64: halting, the QEMU exit device, the TSC and
// its calibration against the PIT, register snapshots and frame-pointer walks.
#include "arch/arch.hpp"

#include <arch/boot_layout.hpp>
#include <arch/cpu.hpp>
#include <arch/interrupt_controllers.hpp>

namespace arch {

using namespace x86;

void halt_forever() {
    for (;;) {
        disable_interrupts();
        halt();
    }
}

void stop_other_cpus() {
    // An NMI reaches a CPU even with interrupts off; its handler sees a panic under way and
    // halts (trap.cpp: panic_begin() fails on the second CPU).
    x86::lapic_send_nmi_to_others();
}

void exit_emulator(bool passed) {
    // QEMU: -device isa-debug-exit,iobase=0xf4,iosize=0x04 exits with status (value << 1) | 1,
    // so 0x10 -> 33 (pass) and 0x11 -> 35 (fail); tools/run-qemu maps those back.
    constexpr uint16_t kDebugExitPort = 0xf4;
    outl(kDebugExitPort, passed ? 0x10 : 0x11);
}

bool save_and_disable_interrupts() {
    const bool were_enabled = read_rflags() & X86_RFLAGS_IF;
    disable_interrupts();
    return were_enabled;
}

void restore_interrupts(bool were_enabled) {
    if (were_enabled) enable_interrupts();
}

void cpu_relax() { x86::cpu_relax(); }

void wait_for_interrupt() { asm volatile("sti; hlt" ::: "memory"); }  // sti's shadow covers hlt

uint8_t port_read8(uint16_t port) { return inb(port); }
void port_write8(uint16_t port, uint8_t value) { outb(port, value); }
void port_write16(uint16_t port, uint16_t value) { outw(port, value); }
uint16_t port_read16(uint16_t port) { return inw(port); }
uint32_t port_read32(uint16_t port) { return inl(port); }
void port_write32(uint16_t port, uint32_t value) { outl(port, value); }

void set_cpu_local_base(void* block) { wrmsr(kMsrGsBase, reinterpret_cast<uint64_t>(block)); }


uint64_t timestamp() { return rdtsc_ordered(); }
uint64_t boot_entry_timestamp() { return boot_entry_tsc; }

bool running_under_hypervisor() { return cpu_has_hypervisor(); }

namespace {

// [8254 PIT datasheet] channel 2 counts down at 1.193182 MHz; its OUT pin is readable at port
// 0x61 bit 5 and goes high when the count reaches 0 (mode 0). Timing a window of it against the
// TSC needs no interrupts, so it works this early. The speaker (bit 1) stays off.
constexpr uint32_t kPitHz = 1193182;
// 1 ms: about 0.1 % (one PIT count, one port read); the clock refines it a second later against
// the ACPI PM timer (kernel/tsc_refine.cpp), so the boot need not wait longer.
constexpr uint32_t kWindowMs = 1;
// A virtual CPU held off by its host for a while makes one window look longer or shorter (one
// such window on a loaded host measured 4x the rate): the median of three is unaffected.
constexpr unsigned kWindows = 3;

// TSC ticks over one PIT window, or 0 if the PIT never answers.
uint64_t timestamp_ticks_over_pit_window() {
    constexpr uint16_t kCount = kPitHz * kWindowMs / 1000;
    const uint8_t saved_gate = inb(0x61);
    outb(0x61, static_cast<uint8_t>((saved_gate & ~0x02) | 0x01));  // gate on, speaker off
    outb(0x43, 0xB0);                                               // ch2, lo/hi, mode 0, binary
    outb(0x42, kCount & 0xFF);
    outb(0x42, kCount >> 8);
    const uint64_t start = rdtsc_ordered();
    uint64_t end = start;
    // Bounded wait: a missing PIT must not hang the boot (about 2^26 polls is far beyond the window).
    for (uint32_t polls = 0; polls < (1u << 26); ++polls) {
        if (inb(0x61) & 0x20) {
            end = rdtsc_ordered();
            break;
        }
    }
    outb(0x61, saved_gate);
    return end - start;
}

}  // namespace

uint64_t calibrate_timestamp_hz() {
    uint64_t ticks[kWindows];
    for (uint64_t& t : ticks) {
        t = timestamp_ticks_over_pit_window();
        if (t == 0) return 0;
    }
    for (unsigned i = 1; i < kWindows; ++i)  // insertion sort: three values
        for (unsigned j = i; j > 0 && ticks[j] < ticks[j - 1]; --j) {
            const uint64_t swap = ticks[j];
            ticks[j] = ticks[j - 1];
            ticks[j - 1] = swap;
        }
    return ticks[kWindows / 2] * 1000 / kWindowMs;
}

__attribute__((noinline)) void capture_registers(RegisterSnapshot& out) {
    out.rip = reinterpret_cast<uint64_t>(__builtin_return_address(0));
    out.rsp = read_rsp();
    // Our own frame holds the caller's saved RBP: start the caller's backtrace there.
    out.rbp = *static_cast<const uint64_t*>(__builtin_frame_address(0));
    out.rflags = read_rflags();
    out.cr0 = read_cr0();
    out.cr2 = read_cr2();
    out.cr3 = read_cr3();
    out.cr4 = read_cr4();
    out.efer = rdmsr(kMsrEfer);
}

void walk_stack(uint64_t rbp, uint64_t stack_top, unsigned max_frames, void (*visit)(uint64_t, void*), void* ctx) {
    // Frame layout with -fno-omit-frame-pointer: [rbp] = caller's rbp, [rbp+8] = return address.
    constexpr uint64_t kIdentityMappedLimit = 1ull << 32;  // boot page tables identity-map 0..4 GiB
    const uint64_t limit = stack_top != 0 ? stack_top : kIdentityMappedLimit;
    for (unsigned i = 0; i < max_frames; ++i) {
        if (rbp == 0 || rbp % 8 != 0 || rbp > limit - 16) return;
        const auto* frame = reinterpret_cast<const uint64_t*>(rbp);
        const uint64_t return_address = frame[1];
        if (return_address == 0) return;
        visit(return_address, ctx);
        if (frame[0] <= rbp) return;  // frames grow upward; anything else is corruption
        rbp = frame[0];
    }
}

void invalidate_tlb_page(uint64_t virt_addr) {
    asm volatile("invlpg (%0)" ::"r"(virt_addr) : "memory");
}

void load_address_space(uint64_t pml4_phys) {
    if (read_cr3() != pml4_phys) asm volatile("mov %0, %%cr3" ::"r"(pml4_phys) : "memory");
}

void flush_tlb_non_global() { asm volatile("mov %0, %%cr3" ::"r"(read_cr3()) : "memory"); }

void load_page_table_root(uint64_t root_phys) { asm volatile("mov %0, %%cr3" ::"r"(root_phys) : "memory"); }

bool cpu_supports_no_execute() {
    return cpu_has_nx() && (rdmsr(kMsrEfer) & kEferNoExecuteEnable);
}

bool cpu_supports_1g_pages() {
    return cpuid(0x80000000).eax >= 0x80000001 && ((cpuid(0x80000001).edx >> 26) & 1);
}

bool translate(uint64_t virt_addr, uint64_t* phys_addr) {
    // The tables are reached by their physical addresses: identity-mapped (see arch.hpp).
    uint64_t table = pte::next_table(read_cr3());
    for (unsigned level = pte::kLevels; level-- > 0;) {
        const uint64_t entry = reinterpret_cast<const uint64_t*>(table)[pte::index(virt_addr, level)];
        if (!pte::is_present(entry)) return false;
        if (pte::is_leaf(entry, level)) {
            *phys_addr = pte::leaf_address(entry, level) | (virt_addr & (pte::level_size(level) - 1));
            return true;
        }
        table = pte::next_table(entry);
    }
    return false;
}

}  // namespace arch
