// Portable parser for the Multiboot2 boot information GRUB hands the kernel
// [Multiboot2 spec §3.6]. It takes a byte span, validates every tag before using it, and returns
// views into that span: malformed information is rejected with an error, never read out of bounds.
#pragma once

#include <stdint.h>

#include "lib/result.hpp"
#include "lib/span.hpp"
#include "lib/string_view.hpp"

namespace boot {

inline constexpr uint32_t kMultiboot2BootloaderMagic = 0x36d76289;
// Multiboot2 requires the info structure to be 8-byte aligned and bounded by its total_size.
inline constexpr size_t kMultiboot2MaxInfoBytes = 1 << 20;

enum class Mb2Error {
    TooSmall,             // shorter than the 8-byte header plus the end tag
    Misaligned,           // the info structure is not 8-byte aligned
    TotalSizePastBuffer,  // total_size claims more bytes than were provided
    TotalSizeUnaligned,   // total_size is not a multiple of 8 (tags are 8-aligned)
    TagTooSmall,          // a tag smaller than its 8-byte header
    TagPastEnd,           // a tag runs past total_size
    MissingEndTag,        // no type-0 tag before total_size
    BadEndTag,            // an end tag whose size is not 8
    BadString,            // a string tag without a terminating NUL inside the tag
    BadModule,            // a module tag too small, or end < start
    BadMemoryMap,         // memory map tag with an impossible entry size
    BadFramebuffer,       // framebuffer tag too small for its fixed fields or its colour info
    BadRsdp,              // ACPI RSDP tag too small for the RSDP it must contain
};

const char* describe(Mb2Error error);

// [Multiboot2 §3.6.8] memory map entry types.
enum class MemoryType : uint32_t {
    Available = 1,
    Reserved = 2,
    AcpiReclaimable = 3,
    AcpiNvs = 4,
    Defective = 5,
};

struct MemoryRegion {
    uint64_t base;
    uint64_t length;
    MemoryType type;
};

struct MemoryMap {
    kstd::Bytes entries;  // the validated entry array inside the info structure
    uint32_t entry_size = 0;

    size_t count() const { return entry_size == 0 ? 0 : entries.size() / entry_size; }
    MemoryRegion operator[](size_t index) const;
};

struct Module {
    uint32_t start;  // physical address of the first byte
    uint32_t end;    // physical address one past the last byte
    kstd::StringView name;
};

enum class FramebufferType : uint8_t { Indexed = 0, Rgb = 1, EgaText = 2 };

// [Multiboot2 §3.6.12] where one colour channel sits in a direct-colour (Rgb) pixel.
struct ColorField {
    uint8_t position = 0;   // lowest bit
    uint8_t mask_size = 0;  // number of bits
};

struct Framebuffer {
    uint64_t address = 0;
    uint32_t pitch = 0;  // bytes from one row to the next (text mode: of cells)
    uint32_t width = 0;  // pixels (text mode: columns)
    uint32_t height = 0;
    uint8_t bits_per_pixel = 0;
    FramebufferType type = FramebufferType::EgaText;
    ColorField red, green, blue;  // Rgb only
};

struct BootInfo {
    kstd::Bytes raw;  // the whole validated structure; modules are found by walking it again
    kstd::StringView command_line;
    kstd::StringView bootloader_name;

    bool has_memory_map = false;
    MemoryMap memory_map;

    bool has_basic_memory = false;
    uint32_t lower_memory_kib = 0;
    uint32_t upper_memory_kib = 0;

    bool has_framebuffer = false;
    Framebuffer framebuffer;

    kstd::Bytes acpi_rsdp_v1;  // copy of the ACPI 1.0 RSDP (20 bytes), empty if absent
    kstd::Bytes acpi_rsdp_v2;  // copy of the ACPI 2.0+ RSDP (36+ bytes), empty if absent

    // GRUB passes the EFI system table only when it booted under UEFI: our firmware test.
    bool booted_by_uefi = false;
    uint64_t efi_system_table = 0;

    bool has_load_base = false;
    uint32_t load_base_address = 0;

    size_t module_count = 0;
    Module module(size_t index) const;

    // Sum of Available regions in the memory map (or the basic memory info without one).
    uint64_t usable_bytes() const;
};

kstd::Result<BootInfo, Mb2Error> parse_multiboot2(kstd::Bytes info);

}  // namespace boot
