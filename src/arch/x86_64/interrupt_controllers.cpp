// PIC, local APIC and IO APIC programming (see include/arch/interrupt_controllers.hpp).
#include <arch/cpu.hpp>
#include <arch/interrupt_controllers.hpp>

namespace arch::x86 {
namespace {

volatile uint32_t* g_lapic = nullptr;
bool g_x2apic = false;  // [SDM vol3 §10.12] registers are MSRs 0x800 + offset/16; ICR is one MSR
volatile uint32_t* g_ioapic = nullptr;

// [SDM vol3 table 10-1] xAPIC register offsets.
constexpr unsigned kLapicId = 0x20, kLapicEoi = 0xB0, kLapicSpurious = 0xF0, kLapicLvtTimer = 0x320,
                   kLapicTimerInitial = 0x380, kLapicTimerCurrent = 0x390, kLapicTimerDivide = 0x3E0;

uint32_t lapic_read(unsigned reg) {
    return g_x2apic ? static_cast<uint32_t>(rdmsr(0x800 + reg / 16)) : g_lapic[reg / 4];
}
void lapic_write(unsigned reg, uint32_t value) {
    if (g_x2apic) wrmsr(0x800 + reg / 16, value);
    else g_lapic[reg / 4] = value;
}

// [82093AA §3.1] indirect access: select a register at +0x00, read/write it at +0x10.
uint32_t ioapic_read(unsigned reg) {
    g_ioapic[0] = reg;
    return g_ioapic[4];
}
void ioapic_write(unsigned reg, uint32_t value) {
    g_ioapic[0] = reg;
    g_ioapic[4] = value;
}

}  // namespace

void disable_legacy_pic() {
    // [8259A datasheet] ICW1..ICW4: remap master to 0x20 and slave to 0x28 so a stray PIC
    // interrupt can never look like an exception, then mask every line.
    outb(0x20, 0x11);
    outb(0xA0, 0x11);
    outb(0x21, 0x20);
    outb(0xA1, 0x28);
    outb(0x21, 0x04);
    outb(0xA1, 0x02);
    outb(0x21, 0x01);
    outb(0xA1, 0x01);
    outb(0x21, 0xFF);
    outb(0xA1, 0xFF);
}

uint64_t lapic_physical_base() { return rdmsr(0x1B) & 0xFFFFFF000ull; }  // IA32_APIC_BASE

void lapic_init(uint64_t mmio_virt) {
    g_lapic = reinterpret_cast<volatile uint32_t*>(mmio_virt);
    // IA32_APIC_BASE bit 11: global enable (firmware normally leaves it set); bit 10: x2APIC
    // mode, used whenever the CPU has it (CPUID.1:ECX[21]) — required for APIC ids above 254.
    // Every CPU runs this, so all of them agree on the mode.
    uint64_t base = rdmsr(0x1B) | (1u << 11);
    g_x2apic = (cpuid(1).ecx >> 21) & 1;
    if (g_x2apic) base |= 1u << 10;
    wrmsr(0x1B, base);
    lapic_write(kLapicSpurious, kVectorSpurious | 0x100);  // the seed's enable: SVR | 0x100
}

uint32_t lapic_id() { return g_x2apic ? lapic_read(kLapicId) : lapic_read(kLapicId) >> 24; }
bool lapic_x2apic_mode() { return g_x2apic; }

// [SDM vol3 §10.5.4] divide configuration register values.
constexpr uint32_t kLapicDivideBy16 = 0x3, kLapicDivideBy1 = 0xB;
static_assert(kLapicTimerPeriodicDivisor == 16, "kLapicDivideBy16 is what lapic_timer_periodic programs");

void lapic_timer_periodic(uint32_t initial_count) {
    lapic_write(kLapicTimerDivide, kLapicDivideBy16);
    lapic_write(kLapicLvtTimer, kVectorTimer | (1u << 17));  // periodic
    lapic_write(kLapicTimerInitial, initial_count);
}

void lapic_timer_stop() {
    lapic_write(kLapicLvtTimer, 1u << 16);  // masked
    lapic_write(kLapicTimerInitial, 0);
}

uint32_t lapic_timer_current() { return lapic_read(kLapicTimerCurrent); }
uint32_t lapic_timer_initial() { return lapic_read(kLapicTimerInitial); }

void lapic_timer_start_count_undivided() {
    lapic_write(kLapicTimerDivide, kLapicDivideBy1);
    lapic_write(kLapicLvtTimer, (1u << 16) | kVectorTimer);  // masked one-shot: count only
    lapic_write(kLapicTimerInitial, 0xFFFFFFFF);
}

namespace {
constexpr unsigned kLapicIcrLow = 0x300, kLapicIcrHigh = 0x310;
constexpr uint32_t kIcrDeliveryPending = 1u << 12;

void send_icr(uint32_t apic_id, uint32_t low) {
    if (g_x2apic) {
        // One 64-bit write, destination in the high half; no delivery-status bit to poll.
        wrmsr(0x830, (uint64_t{apic_id} << 32) | low);
        return;
    }
    for (int i = 0; i < 1000000 && (lapic_read(kLapicIcrLow) & kIcrDeliveryPending); ++i) cpu_relax();
    lapic_write(kLapicIcrHigh, apic_id << 24);
    lapic_write(kLapicIcrLow, low);  // writing the low half sends it
}
}  // namespace

void lapic_send_init(uint32_t apic_id) { send_icr(apic_id, 0x4500); }            // INIT, level assert
void lapic_send_startup(uint32_t apic_id, uint8_t page) { send_icr(apic_id, 0x4600 | page); }

// [SDM vol3 §10.6.1] ICR delivery mode 100b (bits 8-10) is NMI; its vector field is ignored.
constexpr uint32_t kIcrAssert = 0x4000, kIcrDeliveryNmi = 0x400, kIcrAllExcludingSelf = 0xC0000;

void lapic_send_nmi_to_others() {
    if (!g_lapic) return;  // before the LAPIC is set up, no other CPU runs either
    send_icr(0, kIcrAllExcludingSelf | kIcrAssert | kIcrDeliveryNmi);
}
void lapic_send_nmi(uint32_t apic_id) { send_icr(apic_id, kIcrAssert | kIcrDeliveryNmi); }
uint64_t lapic_mmio_base() { return reinterpret_cast<uint64_t>(g_lapic); }

void ioapic_init(uint64_t mmio_virt) {
    g_ioapic = reinterpret_cast<volatile uint32_t*>(mmio_virt);
    for (unsigned pin = 0; pin < ioapic_pin_count(); ++pin) {
        ioapic_write(0x10 + 2 * pin, 1u << 16);  // masked
        ioapic_write(0x11 + 2 * pin, 0);
    }
}

unsigned ioapic_pin_count() { return ((ioapic_read(0x01) >> 16) & 0xFF) + 1; }

void ioapic_route(unsigned irq, unsigned vector, uint32_t destination) {
    ioapic_write(0x11 + 2 * irq, destination << 24);
    ioapic_write(0x10 + 2 * irq, vector);  // fixed delivery, physical, edge, active high, unmasked
}

}  // namespace arch::x86

// The contract's side of the local APIC (arch.hpp, "CPUs"), here beside the register access so
// these hot paths (every wake-up IPI and its EOI) are one call, not two.
namespace arch {

void end_of_interrupt() { x86::lapic_write(x86::kLapicEoi, 0); }
void send_ipi(uint32_t apic_id, uint8_t vector) { x86::send_icr(apic_id, x86::kIcrAssert | vector); }
void send_nmi(uint32_t apic_id) { x86::lapic_send_nmi(apic_id); }

}  // namespace arch
