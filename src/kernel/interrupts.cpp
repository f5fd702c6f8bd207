// Interrupt controllers, the periodic tick and the console input IRQs (see interrupts.hpp).
#include "kernel/interrupts.hpp"

#include <arch/cpu.hpp>
#include <arch/interrupt_controllers.hpp>
#include <arch/trap_frame.hpp>

#include "arch/arch.hpp"
#include "drivers/ps2_keyboard.hpp"
#include "drivers/uart16550.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "lib/rate_window.hpp"
#include "sched/cpu_local.hpp"
#include "mm/kernel_address_space.hpp"
#include "kernel/panic.hpp"
#include "kernel/watchdog.hpp"
#include "smp/discovery.hpp"

namespace kernel::interrupts {
namespace {

using namespace arch::x86;

constexpr uint64_t kIoApicDefaultBase = 0xFEC00000;  // [82093AA] and the MP spec's default
constexpr unsigned kIrqKeyboard = 1, kIrqCom1 = 4;

unsigned g_tick_hz = 0;
uint64_t g_lapic_hz = 0;
uint64_t g_spurious = 0;
TickHook g_tick_hook = nullptr;
void map_mmio(uint64_t phys, const char* what) {
    auto& space = kernel_address_space();
    if (space.translate(phys)) return;
    auto mapped = space.map(kstd::VirtAddr{phys}, kstd::PhysAddr{phys}, mm::kPageSize, mm::kPageWritable | mm::kPageUncached);
    if (!mapped) panic("interrupts: cannot map %s at 0x%lx: %s", what, phys, mm::describe(mapped.error()));
}

void on_timer(arch::TrapFrame* frame, void*) {
    CpuLocal& cpu = this_cpu();
    const uint64_t now_ns = clock::ns_since_boot();
    __atomic_store_n(&cpu.ticks, cpu.ticks + 1, __ATOMIC_RELAXED);  // the heartbeat the watchdog reads
    __atomic_store_n(&cpu.last_tick_ns, now_ns, __ATOMIC_RELAXED);
    watchdog::on_tick(now_ns);
    arch::end_of_interrupt();
    if (g_tick_hook) g_tick_hook(frame);
}

void on_spurious(arch::TrapFrame*, void*) {
    ++g_spurious;  // [SDM vol3 §10.9] no EOI for a spurious interrupt
}

void on_com1(arch::TrapFrame*, void*) {
    drivers::uart16550::on_interrupt();
    arch::end_of_interrupt();
}

void on_keyboard(arch::TrapFrame*, void*) {
    drivers::ps2_keyboard::on_interrupt();
    arch::end_of_interrupt();
}

// The LAPIC timer's count at the start of its calibration window (start_timer), read between two
// timestamps.
struct TimerRead {
    kstd::Bracket bracket;
    uint32_t count;
};
TimerRead g_timer_start;

TimerRead read_timer_count() {
    TimerRead read;
    read.bracket.before = arch::timestamp();
    read.count = lapic_timer_current();
    read.bracket.after = arch::timestamp();
    return read;
}

// LAPIC timer ticks per second (after its divide by 16): stated by CPUID where it is, else
// counted against the calibrated TSC from start_timer to now, which the boot has mostly filled.
// Both ends are known to 0.1 % (the timer's input is >= 1 MHz, so >= 1 ms of TSC is always
// enough; under QEMU's 1 GHz input a few microseconds are), and the TSC rate came from the same
// kind of window.
uint64_t calibrate_lapic_timer() {
    constexpr uint64_t kMaxErrorPpm = 1000;
    if (const uint64_t stated = apic_timer_stated_hz(); stated != 0) return stated / kLapicTimerPeriodicDivisor;
    const uint64_t tsc_hz = clock::tsc_hz();
    if (tsc_hz == 0) return 0;
    // On a host that keeps stalling the virtual CPU inside the reads (TCG at a load of 13 did,
    // for a second) the 0.1 % may never come: after a second 1 % will do, after two no rate (a
    // timer that does not count).
    constexpr uint64_t kLooseErrorPpm = 10'000;
    const uint64_t loosen_tsc = arch::timestamp() + tsc_hz, give_up_tsc = loosen_tsc + tsc_hz;
    for (;;) {
        const TimerRead end = read_timer_count();
        if (end.bracket.after > give_up_tsc) return 0;
        if (end.count == 0) {  // counted all the way down (more than 4 s at 1 GHz): a new window
            lapic_timer_start_count_undivided();
            g_timer_start = read_timer_count();
            continue;
        }
        const uint64_t counted = g_timer_start.count - end.count;
        const uint64_t allowed_ppm = end.bracket.after > loosen_tsc ? kLooseErrorPpm : kMaxErrorPpm;
        const uint64_t ticks = kstd::precise_timestamp_ticks({g_timer_start.bracket, end.bracket, counted}, allowed_ppm);
        if (ticks != 0) return kstd::scale(counted, tsc_hz, ticks) / kLapicTimerPeriodicDivisor;
        cpu_relax();
    }
}

}  // namespace

void start_timer() {
    disable_legacy_pic();
    const uint64_t lapic_phys = lapic_physical_base();
    map_mmio(lapic_phys, "local APIC");
    lapic_init(lapic_phys);
    lapic_timer_start_count_undivided();
    g_timer_start = read_timer_count();
}

void init(unsigned tick_hz) {
    // The IO APIC serving GSIs from 0 (ISA IRQs), from the MADT or MP table, else the default.
    const smp::PlatformTopology& topology = platform::topology();
    uint64_t ioapic_base = kIoApicDefaultBase;
    for (unsigned i = 0; i < topology.io_apic_count; ++i)
        if (topology.io_apics[i].gsi_base == 0) ioapic_base = topology.io_apics[i].address;
    map_mmio(ioapic_base, "IO APIC");
    ioapic_init(ioapic_base);

    arch::set_interrupt_handler(kVectorTimer, on_timer, nullptr);
    arch::set_interrupt_handler(kVectorSpurious, on_spurious, nullptr);
    arch::set_interrupt_handler(kVectorIrqBase + kIrqCom1, on_com1, nullptr);
    arch::set_interrupt_handler(kVectorIrqBase + kIrqKeyboard, on_keyboard, nullptr);
    ioapic_route(topology.gsi_for_isa_irq(kIrqCom1), kVectorIrqBase + kIrqCom1, lapic_id());
    ioapic_route(topology.gsi_for_isa_irq(kIrqKeyboard), kVectorIrqBase + kIrqKeyboard, lapic_id());
    drivers::uart16550::enable_receive_interrupt();
    drivers::ps2_keyboard::init();

    g_lapic_hz = calibrate_lapic_timer();
    if (g_lapic_hz == 0) panic("interrupts: LAPIC timer calibration failed");
    g_tick_hz = tick_hz;
    lapic_timer_periodic(static_cast<uint32_t>(g_lapic_hz / tick_hz));
    arch::x86::enable_interrupts();
    klog(
        "interrupts: PIC masked, LAPIC id %u (%s) timer %lu Hz -> tick %u Hz, IO APIC at 0x%lx (%u pins) COM1 and "
        "keyboard",
        lapic_id(), lapic_x2apic_mode() ? "x2APIC" : "xAPIC", g_lapic_hz, tick_hz, ioapic_base, ioapic_pin_count());
}

void init_application_processor() {
    lapic_init(lapic_physical_base());  // mapped by start_timer() at the same address for every CPU
    lapic_timer_periodic(static_cast<uint32_t>(g_lapic_hz / g_tick_hz));
}

unsigned tick_hz() { return g_tick_hz; }
uint64_t ticks() { return __atomic_load_n(&this_cpu().ticks, __ATOMIC_RELAXED); }
uint64_t last_tick_ns() { return __atomic_load_n(&this_cpu().last_tick_ns, __ATOMIC_RELAXED); }
uint64_t lapic_timer_hz() { return g_lapic_hz; }
uint64_t spurious_count() { return g_spurious; }
void set_tick_hook(TickHook hook) { g_tick_hook = hook; }

}  // namespace kernel::interrupts
