// Interrupt controllers, the periodic tick and console input IRQs (see interrupts.hpp).
#include "kernel/interrupts.hpp"

#include <arch/cpu.hpp>
#include <arch/interrupt_controllers.hpp>
#include <arch/trap_frame.hpp>

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "sched/cpu_local.hpp"
#include "mm/kernel_address_space.hpp"
#include "kernel/panic.hpp"
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
InputHook g_input_hook = nullptr;

// Single-producer (IRQ) / single-consumer ring; indices only grow, wrap by masking.
constexpr size_t kInputBytes = 1024;
char g_input[kInputBytes];
volatile size_t g_input_head = 0, g_input_tail = 0;

void push_input(char c) {
    if (g_input_head - g_input_tail >= kInputBytes) return;  // full: drop, never block an IRQ
    g_input[g_input_head % kInputBytes] = c;
    __atomic_store_n(&g_input_head, g_input_head + 1, __ATOMIC_RELEASE);
    if (g_input_hook) g_input_hook();
}

void map_mmio(uint64_t phys, const char* what) {
    auto& space = kernel_address_space();
    if (space.translate(phys)) return;
    auto mapped = space.map(phys, phys, mm::kPageSize, mm::kPageWritable | mm::kPageUncached);
    if (!mapped) panic("interrupts: cannot map %s at 0x%llx: %s", what, static_cast<unsigned long long>(phys),
                       mm::describe(mapped.error()));
}

uint64_t on_timer(arch::TrapFrame* frame, void*) {
    CpuLocal& cpu = this_cpu();
    __atomic_store_n(&cpu.ticks, cpu.ticks + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&cpu.last_tick_ns, clock::ns_since_boot(), __ATOMIC_RELAXED);
    lapic_eoi();
    return g_tick_hook ? g_tick_hook(frame) : reinterpret_cast<uint64_t>(frame);
}

uint64_t on_spurious(arch::TrapFrame* frame, void*) {
    ++g_spurious;  // [SDM vol3 §10.9] no EOI for a spurious interrupt
    return reinterpret_cast<uint64_t>(frame);
}

uint64_t on_com1(arch::TrapFrame* frame, void*) {
    while (inb(0x3FD) & 1) {  // LSR data ready
        const char c = static_cast<char>(inb(0x3F8));
        push_input(c == '\r' ? '\n' : c);
    }
    lapic_eoi();
    return reinterpret_cast<uint64_t>(frame);
}

// PS/2 set-1 scancodes for the main block, unshifted and shifted.
constexpr char kKeymap[] = "\0\0331234567890-=\b\tqwertyuiop[]\n\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 ";
constexpr char kKeymapShift[] = "\0\033!@#$%^&*()_+\b\tQWERTYUIOP{}\n\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 ";
bool g_shift = false;

uint64_t on_keyboard(arch::TrapFrame* frame, void*) {
    const uint8_t scancode = inb(0x60);
    const bool released = scancode & 0x80;
    const uint8_t key = scancode & 0x7F;
    if (key == 0x2A || key == 0x36) g_shift = !released;
    else if (!released && key < sizeof(kKeymap) - 1) {
        const char c = (g_shift ? kKeymapShift : kKeymap)[key];
        if (c) push_input(c);
    }
    lapic_eoi();
    return reinterpret_cast<uint64_t>(frame);
}

// LAPIC timer ticks per second, measured against the calibrated TSC over 10 ms.
uint64_t calibrate_lapic_timer() {
    const uint64_t tsc_hz = clock::tsc_hz();
    if (tsc_hz == 0) return 0;
    lapic_timer_start_oneshot_max();
    const uint64_t start_tsc = arch::timestamp();
    const uint32_t start_count = lapic_timer_current();
    while (arch::timestamp() - start_tsc < tsc_hz / 100) cpu_relax();
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
    outb(0x3F9, 0x01);  // UART IER: interrupt on received data
    while (inb(0x64) & 1) inb(0x60);  // drain the PS/2 output buffer so the first key raises an IRQ

    g_lapic_hz = calibrate_lapic_timer();
    if (g_lapic_hz == 0) panic("interrupts: LAPIC timer calibration failed");
    g_tick_hz = tick_hz;
    lapic_timer_periodic(static_cast<uint32_t>(g_lapic_hz / tick_hz));
    arch::x86::enable_interrupts();
    klog("interrupts: PIC masked, LAPIC id %u (%s) timer %llu Hz -> tick %u Hz, IO APIC at 0x%llx (%u pins) COM1 and keyboard",
         lapic_id(), lapic_x2apic_mode() ? "x2APIC" : "xAPIC", static_cast<unsigned long long>(g_lapic_hz), tick_hz, static_cast<unsigned long long>(ioapic_base),
         ioapic_pin_count());
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
void set_input_hook(InputHook hook) { g_input_hook = hook; }

bool input_available() { return g_input_tail != __atomic_load_n(&g_input_head, __ATOMIC_ACQUIRE); }

bool read_input(char& out) {
    const size_t tail = g_input_tail;
    if (tail == __atomic_load_n(&g_input_head, __ATOMIC_ACQUIRE)) return false;
    out = g_input[tail % kInputBytes];
    g_input_tail = tail + 1;
    return true;
}

}  // namespace kernel::interrupts
