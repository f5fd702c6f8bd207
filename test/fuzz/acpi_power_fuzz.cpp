// libFuzzer target for smp/acpi_power: parse_fadt and find_s5_sleep_type. Each input is parsed as
// given, then as a FADT and as a DSDT with its signature set and its SDT checksum fixed, so
// mutations reach the field reads and the AML scan instead of stopping at the header checks.
#include <stdint.h>
#include <string.h>

#include <vector>

#include "smp/acpi_power.hpp"
#include "support/table_bytes.hpp"

namespace {

using test_support::Buffer;
using test_support::fix_checksum;

void check(bool condition) {
    if (!condition) __builtin_trap();
}

void run(const Buffer& input) {
    const kstd::Bytes bytes(input.data(), input.size());
    if (auto fadt = smp::parse_fadt(bytes)) {
        check(input.size() >= 116);
        // A reset register is only ever reported in a space the kernel can write.
        if (fadt->reset_supported) check(fadt->reset_register.space_id <= 1 && fadt->reset_register.present());
    }
    if (auto s5 = smp::find_s5_sleep_type(bytes))
        check(s5->pm1a <= 7 && s5->pm1b <= 7);
    else
        (void)smp::describe(s5.error());
}

// The input with `signature` and a valid checksum over its own length field (clamped).
Buffer as_table(const Buffer& input, const char* signature) {
    Buffer table = input;
    memcpy(table.data(), signature, 4);
    const uint32_t length = table[4] | table[5] << 8 | table[6] << 16 | static_cast<uint32_t>(table[7]) << 24;
    fix_checksum(table, 9, length);
    return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A heap copy of exactly `size` bytes: ASan reports any read past the input.
    Buffer input(data, data + size);
    run(input);
    if (size >= 10) {
        run(as_table(input, "FACP"));
        run(as_table(input, "DSDT"));
    }
    return 0;
}
