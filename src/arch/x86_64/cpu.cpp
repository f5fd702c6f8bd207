// The arch contract (src/arch/arch.hpp) for x86-64: halting, the QEMU exit device, the TSC and
// its calibration against the PIT (or the rate CPUID states), register snapshots and frame-pointer walks.
#include "arch/arch.hpp"

#include <arch/boot_layout.hpp>
#include <arch/cpu.hpp>
#include <arch/interrupt_controllers.hpp>

#include "lib/rate_window.hpp"

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

// [8254 PIT datasheet] channel 2 counts down at 1.193182 MHz and can be latched and read at any
// time; its OUT pin (port 0x61 bit 5) goes high when the count passes 0 (mode 0). It needs no
// interrupts, so it works from the first instruction of kernel_main. The speaker (bit 1) stays off.
constexpr uint64_t kPitHz = 1193182;
constexpr uint16_t kPortPitChannel2 = 0x42, kPortPitCommand = 0x43, kPortSpeaker = 0x61;
constexpr uint8_t kPitChannel2Mode0 = 0xB0;   // channel 2, low then high byte, mode 0, binary
constexpr uint8_t kPitChannel2Latch = 0x80;   // counter latch command, channel 2
constexpr uint8_t kSpeakerGate = 0x01, kSpeakerData = 0x02, kPitChannel2Out = 0x20;
// The window ends once both of its clocks are known to 0.1 %. Both ends are read on a count's
// edge (below), so what limits that is how long the reads around the edge took: under --icount
// some tens of nanoseconds (the 1 ms minimum below decides there); under TCG microseconds (an I/O
// exit each), so a few milliseconds. The clock refines the rate a second later against the ACPI
// PM timer (kernel/tsc_refine.cpp).
constexpr uint64_t kMaxErrorPpm = 1000;
// An emulated PIT may step several counts at once (Bochs: a window of tens of microseconds, precise
// by its brackets, was 0.14 % off), so a window also lasts at least 1 ms: steps under a
// microsecond then stay within the 0.1 %.
constexpr uint16_t kMinWindowCounts = kPitHz / 1000;
// A missing PIT reads 0xFF forever: give up after this many reads (seconds on real hardware).
constexpr uint32_t kMaxPolls = 1u << 22;

struct PitRead {
    kstd::Bracket bracket;  // the timestamps around the latch command
    uint16_t count;
};

PitRead read_pit_channel2() {
    PitRead read;
    read.bracket.before = rdtsc_ordered();
    outb(kPortPitCommand, kPitChannel2Latch);
    read.bracket.after = rdtsc_ordered();
    const uint8_t low = inb(kPortPitChannel2);
    read.count = static_cast<uint16_t>(low | inb(kPortPitChannel2) << 8);
    return read;
}

// Reads until the count changes: the change (to the value returned) happened between the last
// read of the old value and this one, so the count is exact at an instant known to that bracket,
// rather than truncated by up to one count (838 ns) at an instant known better. Costs at most one
// count's time.
// False if the count never changes (no PIT).
bool read_pit_channel2_on_edge(PitRead& out) {
    PitRead previous = read_pit_channel2();
    for (uint32_t polls = 0; polls < kMaxPolls; ++polls) {
        const PitRead next = read_pit_channel2();
        if (next.count != previous.count) {
            out = {{previous.bracket.before, next.bracket.after}, next.count};
            return true;
        }
        previous = next;
    }
    return false;
}

struct PitWindow {
    bool open = false;
    bool counting = false;  // the start read saw the count change
    uint8_t saved_speaker = 0;
    PitRead start{};
};
PitWindow g_pit_window;
kstd::StatedClockRates g_stated_rates;  // what CPUID says, read by calibrate_timestamp_hz

// Loads channel 2 with 0 (65536 counts, 55 ms: the longest window mode 0 can tell from a wrap)
// and reads it back as the window's start.
void open_pit_window() {
    if (!g_pit_window.open) g_pit_window.saved_speaker = inb(kPortSpeaker);
    g_pit_window.open = true;
    outb(kPortSpeaker, static_cast<uint8_t>((g_pit_window.saved_speaker & ~kSpeakerData) | kSpeakerGate));
    outb(kPortPitCommand, kPitChannel2Mode0);
    outb(kPortPitChannel2, 0);
    outb(kPortPitChannel2, 0);
    g_pit_window.counting = read_pit_channel2_on_edge(g_pit_window.start);
}

void close_pit_window() {
    if (g_pit_window.open) outb(kPortSpeaker, g_pit_window.saved_speaker);
    g_pit_window.open = false;
}

// TSC ticks per second over the window opened at boot: the boot's own work has filled most or all
// of it, so this waits only for what it still lacks. 0 if the PIT never counts.
uint64_t measure_over_pit_window() {
    // Every read taking over 25 us would keep even a whole 55 ms window from 0.1 % (a virtual CPU
    // stalled by a loaded host): after four such windows 1 % will do; after eight, no
    // calibration rather than a hang.
    constexpr unsigned kStrictWindows = 4, kMaxWindows = 8;
    constexpr uint64_t kLooseErrorPpm = 10'000;
    if (!g_pit_window.open) open_pit_window();
    for (unsigned windows = 1; windows <= kMaxWindows;) {
        PitRead end;
        if (!g_pit_window.counting || !read_pit_channel2_on_edge(end)) return 0;
        // OUT still low after the latch: the count had not passed 0 when it was latched.
        if (inb(kPortSpeaker) & kPitChannel2Out) {
            open_pit_window();  // the boot outlasted the counter (a slow console): a window of its own
            ++windows;
            continue;
        }
        const uint16_t counted = static_cast<uint16_t>(g_pit_window.start.count - end.count);
        if (counted < kMinWindowCounts) continue;
        const uint64_t ticks =
            kstd::precise_timestamp_ticks({g_pit_window.start.bracket, end.bracket, counted, true},
                                          windows <= kStrictWindows ? kMaxErrorPpm : kLooseErrorPpm);
        if (ticks != 0) return kstd::scale(ticks, kPitHz, counted);
    }
    return 0;
}

kstd::CpuidClockLeaves read_clock_leaves() {
    kstd::CpuidClockLeaves leaves;
    const CpuidResult vendor = cpuid(0);
    leaves.max_basic_leaf = vendor.eax;
    leaves.intel = vendor.ebx == 0x756e6547 && vendor.edx == 0x49656e69 && vendor.ecx == 0x6c65746e;  // GenuineIntel
    if (leaves.max_basic_leaf >= 0x15) {
        const CpuidResult ratio = cpuid(0x15);
        leaves.tsc_ratio_denominator = ratio.eax;
        leaves.tsc_ratio_numerator = ratio.ebx;
        leaves.crystal_hz = ratio.ecx;
    }
    if (leaves.max_basic_leaf >= 0x16) leaves.base_mhz = cpuid(0x16).eax & 0xFFFF;
    if (cpu_has_hypervisor()) {
        const CpuidResult signature = cpuid(0x40000000);
        const bool vmware = signature.ebx == 0x61774d56 && signature.ecx == 0x4d566572 && signature.edx == 0x65726177;
        const bool kvm = signature.ebx == 0x4b4d564b && signature.ecx == 0x564b4d56 && signature.edx == 0x0000004d;
        if ((vmware || kvm) && signature.eax >= 0x40000010) {
            const CpuidResult timing = cpuid(0x40000010);
            leaves.hypervisor_timing_leaf = true;
            leaves.hypervisor_tsc_khz = timing.eax;
            leaves.hypervisor_apic_bus_khz = timing.ebx;
        }
    }
    return leaves;
}

}  // namespace

void begin_timestamp_calibration() { open_pit_window(); }

uint64_t calibration_elapsed_ns() {
    if (!g_pit_window.open || !g_pit_window.counting) return 0;
    const PitRead now = read_pit_channel2();
    // Once OUT is high the count has passed 0 and may have wrapped: all that is known is that the
    // whole range went by.
    const uint16_t counted = (inb(kPortSpeaker) & kPitChannel2Out)
                                 ? g_pit_window.start.count
                                 : static_cast<uint16_t>(g_pit_window.start.count - now.count);
    return uint64_t{counted} * 1'000'000'000 / kPitHz;
}

uint64_t calibrate_timestamp_hz() {
    g_stated_rates = kstd::stated_clock_rates(read_clock_leaves());
    const uint64_t hz = g_stated_rates.timestamp_hz != 0 ? g_stated_rates.timestamp_hz : measure_over_pit_window();
    close_pit_window();
    return hz;
}

namespace x86 {
uint64_t apic_timer_stated_hz() { return g_stated_rates.apic_timer_hz; }
}  // namespace x86

__attribute__((noinline)) void capture_registers(RegisterSnapshot& out) {
    out.rip = reinterpret_cast<uint64_t>(__builtin_return_address(0));
    // The caller's RSP once this call returns (the CFA: just above the return address) and its
    // RBP, which our frame saved: a backtrace of the caller starts from these and `rip`.
    const auto* frame = static_cast<const uint64_t*>(__builtin_frame_address(0));
    out.rsp = reinterpret_cast<uint64_t>(frame + 2);
    out.rbp = frame[0];
    out.rflags = read_rflags();
    out.cr0 = read_cr0();
    out.cr2 = read_cr2();
    out.cr3 = read_cr3();
    out.cr4 = read_cr4();
    out.efer = rdmsr(kMsrEfer);
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
