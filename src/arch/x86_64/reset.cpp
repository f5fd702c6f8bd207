// The PC's own ways to reset, tried after the FADT's reset register (smp/power.cpp logs each and
// picks the first one; docs/power.md says why in this order).
#include "arch/arch.hpp"

#include <arch/cpu.hpp>

namespace arch {
namespace {

using namespace x86;

// [Intel PCH datasheet, Reset Control Register 0xCF9] SYS_RST (bit 1) makes the reset a full
// one; a rising edge of RST_CPU (bit 2) starts it, so RST_CPU goes in as a second write.
void reset_through_port_cf9() {
    constexpr uint16_t kResetControl = 0xCF9;
    outb(kResetControl, 0x02);
    outb(kResetControl, 0x06);
}

// [8042 controller] command 0xFE pulses the CPU reset line. The command is taken only once the
// input buffer (status bit 1) is empty; a controller that never empties it is not waited for.
void reset_through_keyboard_controller() {
    constexpr uint16_t kStatusCommand = 0x64;
    constexpr uint8_t kInputBufferFull = 1u << 1;
    constexpr unsigned kMaxPolls = 100000;
    for (unsigned i = 0; i < kMaxPolls && (inb(kStatusCommand) & kInputBufferFull); ++i) x86::cpu_relax();
    outb(kStatusCommand, 0xFE);
}

// With an IDT of limit 0 every vector is out of bounds: the breakpoint raises #GP, which raises
// #DF, which shuts the CPU down [Intel SDM vol3 §6.15, interrupt 8], and the chipset resets.
[[noreturn]] void reset_through_triple_fault() {
    struct [[gnu::packed]] {
        uint16_t limit;
        uint64_t base;
    } const empty{0, 0};
    asm volatile("cli; lidt %0; int3" ::"m"(empty) : "memory");
    __builtin_unreachable();
}

}  // namespace

const ResetMethod kResetMethods[] = {
    {"cf9", "port 0xcf9 (0x02 then 0x06)", reset_through_port_cf9},
    {"keyboard", "keyboard controller (0x64 <- 0xfe)", reset_through_keyboard_controller},
    {"triple-fault", "triple fault (empty IDT, int3)", reset_through_triple_fault},
};
const unsigned kResetMethodCount = sizeof kResetMethods / sizeof kResetMethods[0];

}  // namespace arch
