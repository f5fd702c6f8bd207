// CPU and interrupt-controller discovery: the ACPI MADT when the firmware has one (reached from
// the loader's RSDP tag, needed under UEFI, or the BIOS area), the MP table otherwise. The boot
// log says which was used and lists every CPU.
#pragma once

#include "boot/multiboot2.hpp"
#include "smp/firmware_tables.hpp"

namespace kernel::platform {

// Runs once at boot. Never fails: without either table the machine is one CPU with the
// standard IO APIC, and the log says so. `ignore_madt` (sable.acpi=off) forces the MP table, as
// on firmware without ACPI.
void discover(const boot::BootInfo& info, bool ignore_madt = false);
const smp::PlatformTopology& topology();
bool from_firmware();  // false when neither table was usable

// The `index`th valid ACPI table with this signature the root table lists ("FACP", "SSDT"),
// mapped read-only; empty if there is none or ACPI was not used (no root table, sable.acpi=off).
kstd::Bytes acpi_table(const char* signature, unsigned index = 0);
// The table at a physical address another table names (the FADT's DSDT), mapped read-only;
// empty if its length is implausible. Not validated: the parser checks it.
kstd::Bytes acpi_table_at(uint64_t phys_addr);

// sable.dump=firmware: prints the raw RSDP, root table, MADT, MP floating pointer, MP
// configuration table, FADT and DSDT as "FWDUMP <name> <hex>" lines (tools/capture-firmware-tables turns them
// into the host tests' fixtures).
void dump_tables();

}  // namespace kernel::platform
