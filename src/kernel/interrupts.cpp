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

// LAPIC timer ticks per second, measured against the calibrated TSC over 1 ms. The TSC is
// already exact, so the only error is a count read's latency (well under a microsecond) against
// the LAPIC timer's >= 1 MHz: under 0.1 %, where a tick's length needs no better. A longer
// window would cost the boot its length again.
uint64_t calibrate_lapic_timer() {
    constexpr uint64_t kWindowsPerSecond = 1000;
    const uint64_t tsc_hz = clock::tsc_hz();
    if (tsc_hz == 0) return 0;
    lapic_timer_start_oneshot_max();
    const uint64_t start_tsc = arch::timestamp();
    const uint32_t start_count = lapic_timer_current();
    while (arch::timestamp() - start_tsc < tsc_hz / kWindowsPerSecond) cpu_relax();
    const uint32_t elapsed_count = start_count - lapic_timer_current();
    const uint64_t elapsed_tsc = arch::timestamp() - start_tsc;
    lapic_timer_stop();
    return elapsed_count * tsc_hz / elapsed_tsc;
}

}  // namespace

void init(unsigned tick_hz) {
    disable_legacy_pic();
    const uint64_t lapic_phys = lapic_physical_base();
    map_mmio(lapic_phys, "local APIC");
    lapic_init(lapic_phys);
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
    lapic_init(lapic_physical_base());  // mapped by init() at the same address for every CPU
    lapic_timer_periodic(static_cast<uint32_t>(g_lapic_hz / g_tick_hz));
}

unsigned tick_hz() { return g_tick_hz; }
uint64_t ticks() { return __atomic_load_n(&this_cpu().ticks, __ATOMIC_RELAXED); }
uint64_t last_tick_ns() { return __atomic_load_n(&this_cpu().last_tick_ns, __ATOMIC_RELAXED); }
uint64_t lapic_timer_hz() { return g_lapic_hz; }
uint64_t spurious_count() { return g_spurious; }
void set_tick_hook(TickHook hook) { g_tick_hook = hook; }

}  // namespace kernel::interrupts
