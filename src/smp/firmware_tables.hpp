// Portable parsers for the firmware's CPU and interrupt-controller tables: the ACPI RSDP, RSDT/
// XSDT and MADT [ACPI 6.4 §5.2.5-5.2.12], and Intel's MP floating pointer and configuration table
// [MultiProcessor Specification 1.4, ch.4]. Parsing takes byte spans and never reads outside them;
// searching memory is a separate step (house style §2), and here even the search works on a span
// (the first MiB of physical memory), so everything is host-tested and fuzzed.
#pragma once

#include <stdint.h>

#include "lib/cpu_mask.hpp"
#include "lib/result.hpp"
#include "lib/span.hpp"

namespace smp {

using kstd::kMaxCpus;  // the most CPUs the kernel keeps per-CPU data for
inline constexpr unsigned kMaxIoApics = 16;
inline constexpr unsigned kMaxOverrides = 32;
inline constexpr unsigned kMaxNmis = 16;

enum class TableError {
    TooShort,         // shorter than its fixed header
    BadSignature,     // not the table we were asked to parse
    BadChecksum,      // bytes do not sum to zero
    LengthPastEnd,    // the table's own length runs past the bytes we have
    BadEntry,         // an entry with a length of 0, or one running past the table
    NotFound,         // no such structure in the searched memory
};
const char* describe(TableError error);

struct CpuEntry {
    uint32_t apic_id;
    bool enabled;       // firmware says usable (MADT flags bit 0 / MP CPU flags EN)
    bool bootstrap;     // MP table only: this is the BSP (the MADT does not say)
};

struct IoApicEntry {
    uint32_t id;
    uint64_t address;
    uint32_t gsi_base;  // first global system interrupt it serves (MP table: 0)
};

struct InterruptOverride {
    uint8_t source_irq;  // ISA IRQ
    uint32_t gsi;        // what it is wired to
    uint16_t flags;      // polarity and trigger mode [ACPI table 5.50]
};

struct LocalNmi {
    uint32_t acpi_processor_uid;  // 0xFF / 0xFFFFFFFF = all processors
    uint8_t lint;                 // LINT0 or LINT1
    uint16_t flags;
};

enum class TableSource { Madt, MpTable };

// What either table says about the machine. Entries beyond the fixed capacities are counted in
// `dropped` rather than stored: a table cannot make the parser write out of bounds.
struct PlatformTopology {
    TableSource source = TableSource::Madt;
    uint64_t local_apic_address = 0;
    bool has_legacy_pics = false;  // MADT PCAT_COMPAT / MP IMCR: the 8259s exist (mask them)
    CpuEntry cpus[kMaxCpus] = {};
    unsigned cpu_count = 0;
    IoApicEntry io_apics[kMaxIoApics] = {};
    unsigned io_apic_count = 0;
    InterruptOverride overrides[kMaxOverrides] = {};
    unsigned override_count = 0;
    LocalNmi nmis[kMaxNmis] = {};
    unsigned nmi_count = 0;
    unsigned dropped = 0;

    unsigned enabled_cpu_count() const;
    // The GSI an ISA IRQ is wired to, after interrupt-source overrides (identity otherwise).
    uint32_t gsi_for_isa_irq(uint8_t irq) const;
};

// --- ACPI -----------------------------------------------------------------------------------
struct Rsdp {
    uint8_t revision;       // 0: ACPI 1.0 (RSDT only); 2+: XSDT available
    uint64_t rsdt_address;  // 32-bit physical address
    uint64_t xsdt_address;  // 0 when revision < 2
};
// Validates an RSDP (20 bytes for ACPI 1.0, `length` bytes with the extended checksum for 2.0+).
kstd::Result<Rsdp, TableError> parse_rsdp(kstd::Bytes bytes);
// Finds a valid RSDP on a 16-byte boundary in `area` (the BIOS area 0xE0000-0xFFFFF, or the EBDA).
// Returns its offset within `area`.
kstd::Result<size_t, TableError> find_rsdp(kstd::Bytes area);

// Checks an SDT header: signature (4 chars), length within `bytes`, checksum. Returns the length.
kstd::Result<uint32_t, TableError> check_sdt(kstd::Bytes bytes, const char* signature);
// Entries of an RSDT (4-byte) or XSDT (8-byte) as physical addresses.
struct SdtPointers {
    kstd::Bytes table;
    unsigned entry_bytes;
    size_t count() const { return entry_bytes ? (table.size() - 36) / entry_bytes : 0; }
    uint64_t operator[](size_t index) const;
};
kstd::Result<SdtPointers, TableError> parse_root_table(kstd::Bytes bytes, bool is_xsdt);

kstd::Result<PlatformTopology, TableError> parse_madt(kstd::Bytes bytes);

// --- MP specification -----------------------------------------------------------------------
struct MpFloatingPointer {
    uint32_t config_table_address;  // 0: a default configuration (feature byte 1) is meant
    uint8_t default_configuration;
    bool imcr_present;              // feature byte 2 bit 7: PIC mode, i.e. legacy PICs present
};
kstd::Result<MpFloatingPointer, TableError> parse_mp_floating_pointer(kstd::Bytes bytes);
// Searches the first MiB in the spec's order: the EBDA's first KiB (segment at 0x40E), the last
// KiB of base memory (size in KiB at 0x413), then 0xF0000-0xFFFFF. `low_memory` is physical
// 0..(at least) 1 MiB. Returns the offset (= physical address) of the structure.
kstd::Result<size_t, TableError> find_mp_floating_pointer(kstd::Bytes low_memory);
// Parses the configuration table by its base length (not its entry count, which some firmware
// leaves at 0).
kstd::Result<PlatformTopology, TableError> parse_mp_config(kstd::Bytes bytes);

}  // namespace smp
