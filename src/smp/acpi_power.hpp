// Portable parsers for what reset and power-off need from ACPI: the FADT's reset register, PM1
// control blocks and DSDT pointer [ACPI 6.4 §5.2.9] (and its PM timer, which the clock uses), and the \_S5 package's sleep types, found by
// a bounds-checked scan of the DSDT's or an SSDT's AML [ACPI 6.4 §7.4.2, §20.2]. Byte spans in,
// plain values out; the kernel side (smp/power.cpp) does the writes. docs/power.md explains both.
#pragma once

#include <stdint.h>

#include "lib/result.hpp"
#include "lib/span.hpp"
#include "smp/firmware_tables.hpp"

namespace smp {

// [ACPI 6.4 §5.2.3.2] Generic Address Structure: where a register lives.
enum class AddressSpace : uint8_t { Memory = 0, Io = 1 };
struct GenericAddress {
    uint8_t space_id = 0;  // AddressSpace, or another space the kernel cannot write
    uint8_t bit_width = 0;
    uint8_t bit_offset = 0;
    uint8_t access_size = 0;  // 1..4 = byte..qword; 0 = legacy (take bit_width)
    uint64_t address = 0;     // 0: not present
    bool present() const { return address != 0; }
};

// What the FADT says, read only from fields inside the table's own length (a revision 1 FADT
// of 116 bytes has no reset register and no 64-bit X_ fields).
struct Fadt {
    uint8_t revision = 0;
    uint64_t dsdt_address = 0;      // X_DSDT when the table has it and it is non-zero, else DSDT
    GenericAddress pm1a_control;    // X_PM1a_CNT_BLK when present, else PM1a_CNT_BLK as I/O
    GenericAddress pm1b_control;    // may be absent (address 0)
    uint32_t smi_command_port = 0;  // SMI_CMD: 0 = the machine is always in ACPI mode
    uint8_t acpi_enable_value = 0;  // written to SMI_CMD to hand PM1 control to the OS
    GenericAddress pm_timer;        // X_PM_TMR_BLK when present, else PM_TMR_BLK as I/O; absent: none
    uint8_t pm_timer_bits = 0;      // 24 or 32 (Flags.TMR_VAL_EXT); 0 with no timer
    bool reset_supported = false;   // Flags.RESET_REG_SUP and a usable RESET_REG
    GenericAddress reset_register;
    uint8_t reset_value = 0;
};
kstd::Result<Fadt, TableError> parse_fadt(kstd::Bytes bytes);

// [ACPI 6.4 §7.4.2.4] \_S5's first two package elements: PM1a and PM1b SLP_TYP (3 bits each).
struct SleepType {
    uint8_t pm1a;
    uint8_t pm1b;
};
// Scans a DSDT or SSDT (signature, length and checksum checked) for NameOp "_S5_" followed by a
// package whose first elements are integer constants. NotFound if the table has no usable \_S5;
// BadEntry if one is there but its package is malformed or a value does not fit SLP_TYP.
kstd::Result<SleepType, TableError> find_s5_sleep_type(kstd::Bytes bytes);

// [ACPI 6.4 §4.8.3.3] The PM timer counts at 3.579545 MHz.
inline constexpr uint64_t kPmTimerHz = 3579545;

// The PM1 control value that enters a sleep state [ACPI 6.4 §4.8.3.2.1]: SLP_TYP<<10 | SLP_EN.
inline constexpr uint16_t kSleepEnable = 1u << 13;
inline constexpr unsigned kSleepTypeShift = 10;
inline constexpr uint16_t pm1_sleep_value(uint8_t sleep_type) {
    return static_cast<uint16_t>((sleep_type & 7u) << kSleepTypeShift | kSleepEnable);
}
// PM1 control SCI_EN: set once the machine is in ACPI mode.
inline constexpr uint16_t kSciEnable = 1u << 0;

}  // namespace smp
