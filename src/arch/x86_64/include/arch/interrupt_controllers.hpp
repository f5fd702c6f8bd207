// Legacy PIC, local APIC and IO APIC [Intel SDM vol3 ch.10; 82093AA IO APIC datasheet]. The PIC
// is remapped away from the exception vectors and masked; device IRQs go through the IO APIC and
// every CPU's timer is its local APIC's.
#pragma once

#include <stdint.h>

#include <arch/x86_defs.h>

namespace arch::x86 {

// Vectors (exceptions are 0..31).
inline constexpr unsigned kVectorTimer = X86_VECTOR_TIMER;
inline constexpr unsigned kVectorIrqBase = X86_VECTOR_IRQ_BASE;  // IO APIC pin n -> 0x30 + n
inline constexpr unsigned kVectorSpurious = X86_VECTOR_SPURIOUS;

void disable_legacy_pic();

// Local APIC of this CPU: x2APIC (MSRs) when the CPU has it, else xAPIC (memory-mapped; the
// MMIO page must be mapped uncached).
uint64_t lapic_physical_base();
void lapic_init(uint64_t mmio_virt);  // software-enable with the spurious vector
uint32_t lapic_id();
bool lapic_x2apic_mode();
// Periodic timer on kVectorTimer; `initial_count` in LAPIC timer ticks (divide by 16).
void lapic_timer_periodic(uint32_t initial_count);
void lapic_timer_stop();
uint32_t lapic_timer_current();
uint32_t lapic_timer_initial();  // the periodic reload value
// Calibration: the timer counts down from 0xFFFFFFFF, masked, at its input rate (divide by 1,
// the finest reading); lapic_timer_periodic's divide by 16 then counts at a sixteenth of it.
void lapic_timer_start_count_undivided();
inline constexpr uint32_t kLapicTimerPeriodicDivisor = 16;
// The timer's input rate as CPUID states it (crystal or hypervisor bus clock; read by
// arch::calibrate_timestamp_hz), 0 where it must be measured.
uint64_t apic_timer_stated_hz();

// Inter-processor interrupts [SDM vol3 §10.6.1]: INIT (assert, level), STARTUP with the
// trampoline's page number, and fixed-vector IPIs. Each waits for the ICR to be idle first.
void lapic_send_init(uint32_t apic_id);
void lapic_send_startup(uint32_t apic_id, uint8_t page);
void lapic_send_nmi_to_others();  // panic: stop every other CPU, whatever it is doing
void lapic_send_nmi(uint32_t apic_id);  // the watchdog: into one CPU, even with interrupts off
uint64_t lapic_mmio_base();

// IO APIC: route legacy IRQ `irq` (after interrupt-source overrides: the same number on QEMU
// for IRQ 1 and 4) to `vector` on the CPU with APIC id `destination`, edge-triggered, active high.
void ioapic_init(uint64_t mmio_virt);
void ioapic_route(unsigned irq, unsigned vector, uint32_t destination);
unsigned ioapic_pin_count();

}  // namespace arch::x86
