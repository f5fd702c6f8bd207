// libFuzzer target for the MP-specification parsers in smp/firmware_tables:
// parse_mp_floating_pointer, parse_mp_config (and the topology accessors), and
// find_mp_floating_pointer with the input standing for low memory. Each input is parsed as given
// and again with its checksum fixed up, so mutations get past the checksum to the entry walk.
#include <stdint.h>

#include <algorithm>
#include <vector>

#include "smp/firmware_tables.hpp"
#include "support/table_bytes.hpp"

namespace {

using test_support::Buffer;
using test_support::fix_checksum;


void check(bool condition) {
    if (!condition) __builtin_trap();
}

void check_topology(const smp::PlatformTopology& topology) {
    check(topology.source == smp::TableSource::MpTable);
    check(topology.cpu_count <= smp::kMaxCpus);
    check(topology.io_apic_count <= smp::kMaxIoApics);
    check(topology.override_count <= smp::kMaxOverrides);
    check(topology.nmi_count <= smp::kMaxNmis);
    check(topology.enabled_cpu_count() <= topology.cpu_count);
    for (unsigned irq = 0; irq < 16; ++irq) (void)topology.gsi_for_isa_irq(static_cast<uint8_t>(irq));
}

void run(const Buffer& input) {
    const kstd::Bytes bytes(input.data(), input.size());

    if (auto pointer = smp::parse_mp_floating_pointer(bytes)) (void)pointer->config_table_address;
    else (void)smp::describe(pointer.error());

    if (auto topology = smp::parse_mp_config(bytes)) check_topology(topology.value());

    // Inputs are far below 1 MiB, so this exercises the BDA reads (0x40E, 0x413), the EBDA and
    // base-memory windows and their clamping at the end of the span; the BIOS area is beyond it.
    if (auto offset = smp::find_mp_floating_pointer(bytes))
        check(offset.value() % 16 == 0 && offset.value() + 16 <= bytes.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A heap copy of exactly `size` bytes: ASan reports any read past the input.
    Buffer input(data, data + size);
    run(input);

    // Floating pointer: checksum at 10 over 16 * (length byte at 8).
    if (size >= 11) {
        Buffer pointer = input;
        fix_checksum(pointer, 10, size_t{pointer[8]} * 16);
        run(pointer);
    }
    // Configuration table: checksum at 7 over the base length at 4.
    if (size >= 8) {
        Buffer config = input;
        fix_checksum(config, 7, config[4] | config[5] << 8);
        run(config);
    }
    return 0;
}
