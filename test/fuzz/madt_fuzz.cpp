// libFuzzer target for the ACPI parsers in smp/firmware_tables: parse_madt (and the topology
// accessors), check_sdt, parse_root_table, parse_rsdp and find_rsdp. Each input is parsed as given
// and again with its checksums fixed up, so mutations get past the checksum to the entry walk.
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "smp/firmware_tables.hpp"
#include "support/table_bytes.hpp"

namespace {

using test_support::Buffer;
using test_support::fix_checksum;

uint32_t get32(const Buffer& b, size_t at) {
    return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}


void check(bool condition) {
    if (!condition) __builtin_trap();
}

void check_topology(const smp::PlatformTopology& topology) {
    check(topology.cpu_count <= smp::kMaxCpus);
    check(topology.io_apic_count <= smp::kMaxIoApics);
    check(topology.override_count <= smp::kMaxOverrides);
    check(topology.nmi_count <= smp::kMaxNmis);
    check(topology.enabled_cpu_count() <= topology.cpu_count);
    for (unsigned irq = 0; irq < 16; ++irq) (void)topology.gsi_for_isa_irq(static_cast<uint8_t>(irq));
}

void run(const Buffer& input) {
    const kstd::Bytes bytes(input.data(), input.size());

    if (auto topology = smp::parse_madt(bytes)) check_topology(topology.value());
    else (void)smp::describe(topology.error());

    if (auto length = smp::check_sdt(bytes, "APIC")) check(length.value() <= bytes.size());

    for (bool is_xsdt : {false, true}) {
        if (auto table = smp::parse_root_table(bytes, is_xsdt)) {
            check(36 + table->count() * table->entry_bytes <= bytes.size());
            for (size_t i = 0; i < table->count(); ++i) (void)table.value()[i];
        }
    }

    if (auto rsdp = smp::parse_rsdp(bytes)) check(rsdp->revision >= 2 || rsdp->xsdt_address == 0);
    if (auto offset = smp::find_rsdp(bytes)) check(offset.value() % 16 == 0 && offset.value() + 20 <= bytes.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A heap copy of exactly `size` bytes: ASan reports any read past the input.
    Buffer input(data, data + size);
    run(input);

    // The same bytes with the SDT checksum (byte 9 over the length at 4) and the RSDP checksums
    // (byte 8 over 20 bytes; byte 32 over the length at 20 for revision 2+) made valid. The two
    // sets of fix-ups overlap (byte 9 is in the RSDP's first 20 bytes), so each gets its own copy.
    if (size >= 10) {
        Buffer sdt = input;
        fix_checksum(sdt, 9, get32(sdt, 4));
        run(sdt);
    }
    if (size >= 20) {
        Buffer rsdp = input;
        fix_checksum(rsdp, 8, 20);
        if (size >= 24 && rsdp[15] >= 2) fix_checksum(rsdp, 32, get32(rsdp, 20));
        run(rsdp);
    }
    return 0;
}
