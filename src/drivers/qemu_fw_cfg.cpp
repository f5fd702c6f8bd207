// fw_cfg over I/O ports [QEMU docs/specs/fw_cfg.rst]: write a 16-bit selector to 0x510, read the
// item byte by byte from 0x511. Item 0 holds the signature "QEMU"; item 0x19 is the file
// directory: a big-endian count, then 64-byte entries {be32 size, be16 select, u16, char[56]}.
#include "drivers/qemu_fw_cfg.hpp"

#include "arch/arch.hpp"
#include "lib/string_view.hpp"

namespace drivers::qemu_fw_cfg {
namespace {

uint8_t inb(uint16_t port) { return arch::port_read8(port); }
void outw(uint16_t port, uint16_t value) { arch::port_write16(port, value); }

constexpr uint16_t kSelectorPort = 0x510;
constexpr uint16_t kDataPort = 0x511;
constexpr uint16_t kSignatureItem = 0x0000;
constexpr uint16_t kFileDirectoryItem = 0x0019;

void select(uint16_t item) { outw(kSelectorPort, item); }

uint32_t read_be32() {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value = (value << 8) | inb(kDataPort);
    return value;
}

bool device_present() {
    // Only probe inside a hypervisor: on a real PC these ports may belong to something else.
    if (!arch::running_under_hypervisor()) return false;
    select(kSignatureItem);
    const char expected[4] = {'Q', 'E', 'M', 'U'};
    for (char c : expected)
        if (inb(kDataPort) != static_cast<uint8_t>(c)) return false;
    return true;
}

}  // namespace

long read_file(const char* name, char* buffer, size_t capacity) {
    if (capacity == 0 || !device_present()) return -1;
    select(kFileDirectoryItem);
    const uint32_t count = read_be32();
    const kstd::StringView wanted(name);
    for (uint32_t i = 0; i < count && i < 4096; ++i) {
        const uint32_t size = read_be32();
        const uint8_t item_high = inb(kDataPort);  // two reads: operand order is unspecified
        const uint16_t item = static_cast<uint16_t>((item_high << 8) | inb(kDataPort));
        inb(kDataPort);
        inb(kDataPort);
        char entry_name[56];
        for (char& c : entry_name) c = static_cast<char>(inb(kDataPort));
        entry_name[55] = '\0';
        if (kstd::StringView(entry_name) != wanted) continue;

        select(item);
        size_t length = size < capacity - 1 ? size : capacity - 1;
        for (size_t j = 0; j < length; ++j) buffer[j] = static_cast<char>(inb(kDataPort));
        buffer[length] = '\0';
        return static_cast<long>(length);
    }
    return -1;
}

}  // namespace drivers::qemu_fw_cfg
