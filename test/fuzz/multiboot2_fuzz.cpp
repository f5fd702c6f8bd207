// libFuzzer target for boot::parse_multiboot2: any byte string must be accepted or rejected with
// an error, never read outside the span; on success every accessor (strings, memory map, modules,
// usable_bytes, the RSDP copies) is walked, since the kernel uses them on whatever was accepted.
#include <stdint.h>
#include <string.h>

#include <new>

#include "boot/multiboot2.hpp"
#include "smp/firmware_tables.hpp"

namespace {

void check(bool condition) {
    if (!condition) __builtin_trap();
}

unsigned touch(kstd::StringView text) {
    unsigned sum = 0;
    for (char c : text) sum += static_cast<unsigned char>(c);
    return sum;
}

unsigned touch(kstd::Bytes bytes) {
    unsigned sum = 0;
    for (uint8_t b : bytes) sum += b;
    return sum;
}

void run(kstd::Bytes info) {
    auto parsed = boot::parse_multiboot2(info);
    if (!parsed) {
        (void)boot::describe(parsed.error());
        return;
    }
    const boot::BootInfo& boot = parsed.value();
    volatile unsigned sink = 0;
    sink = sink + touch(boot.raw) + touch(boot.command_line) + touch(boot.bootloader_name);
    if (boot.has_memory_map) {
        check(boot.memory_map.entry_size >= 24);
        for (size_t i = 0; i < boot.memory_map.count(); ++i) {
            const boot::MemoryRegion region = boot.memory_map[i];
            sink = sink + static_cast<unsigned>(region.base + region.length);
        }
    }
    (void)boot.usable_bytes();
    for (size_t i = 0; i <= boot.module_count; ++i) {  // one past the end must be harmless too
        const boot::Module module = boot.module(i);
        sink = sink + touch(module.name);
        if (i < boot.module_count) check(module.end >= module.start);
    }
    // The kernel hands the RSDP copies to the ACPI parser.
    if (!boot.acpi_rsdp_v1.empty()) (void)smp::parse_rsdp(boot.acpi_rsdp_v1);
    if (!boot.acpi_rsdp_v2.empty()) (void)smp::parse_rsdp(boot.acpi_rsdp_v2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // Multiboot2 info must be 8-byte aligned, and the parser checks. An aligned operator new of
    // exactly `size` bytes gives both: ASan poisons from byte `size` on (its shadow tracks partial
    // 8-byte granules), so even a 1-byte overread is reported. (A std::vector<uint64_t> of
    // ceil(size / 8) words would also be aligned, but reads into its last word's padding, up to 7
    // bytes past the input, would go unnoticed.)
    void* copy = ::operator new(size, std::align_val_t{8});
    if (size) memcpy(copy, data, size);
    const auto* bytes = static_cast<const uint8_t*>(copy);
    run(kstd::Bytes(bytes, size));

    // The same bytes one past an aligned address: always Misaligned, whatever they say.
    if (size >= 1) {
        auto misaligned = boot::parse_multiboot2(kstd::Bytes(bytes + 1, size - 1));
        check(!misaligned && misaligned.error() == boot::Mb2Error::Misaligned);
    }
    ::operator delete(copy, std::align_val_t{8});
    return 0;
}
