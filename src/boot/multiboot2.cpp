// Multiboot2 boot information parser (see multiboot2.hpp). Validation happens in one pass over
// the tags; accessors used afterwards (module(), memory_map[]) rely on that pass.
#include "boot/multiboot2.hpp"

#include "lib/bytes.hpp"

namespace boot {
namespace {

using kstd::Bytes;
using kstd::fail;
using kstd::load;

// [Multiboot2 §3.6] tag types this kernel reads.
enum TagType : uint32_t {
    kTagEnd = 0,
    kTagCommandLine = 1,
    kTagBootloaderName = 2,
    kTagModule = 3,
    kTagBasicMemory = 4,
    kTagMemoryMap = 6,
    kTagFramebuffer = 8,
    kTagEfi32SystemTable = 11,
    kTagEfi64SystemTable = 12,
    kTagAcpiOldRsdp = 14,
    kTagAcpiNewRsdp = 15,
    kTagLoadBaseAddress = 21,
};

constexpr size_t kTagHeaderBytes = 8;
constexpr size_t kMemoryMapHeaderBytes = 16;   // tag header + entry_size + entry_version
constexpr size_t kMemoryMapEntryBytes = 24;    // base, length, type, reserved
constexpr size_t kModuleHeaderBytes = 16;      // tag header + start + end
constexpr size_t kFramebufferFixedBytes = 30;  // up to and including framebuffer_type
constexpr size_t kFramebufferColorInfo = 32;   // after a 2-byte reserved field
constexpr size_t kFramebufferRgbBytes = kFramebufferColorInfo + 6;  // three (position, size) pairs
constexpr size_t kRsdpV1Bytes = 20;
constexpr size_t kRsdpV2Bytes = 36;

constexpr size_t align8(size_t value) { return (value + 7) & ~size_t{7}; }

// A NUL-terminated string filling the rest of a tag; false if the NUL is missing.
bool read_string(Bytes tag, size_t offset, kstd::StringView& out) {
    for (size_t i = offset; i < tag.size(); ++i) {
        if (tag[i] == 0) {
            out = kstd::StringView(reinterpret_cast<const char*>(tag.data() + offset), i - offset);
            return true;
        }
    }
    return false;
}

}  // namespace

const char* describe(Mb2Error error) {
    switch (error) {
    case Mb2Error::TooSmall: return "boot information is too small";
    case Mb2Error::Misaligned: return "boot information is not 8-byte aligned";
    case Mb2Error::TotalSizePastBuffer: return "total_size runs past the boot information";
    case Mb2Error::TotalSizeUnaligned: return "total_size is not a multiple of 8";
    case Mb2Error::TagTooSmall: return "a tag is smaller than its header";
    case Mb2Error::TagPastEnd: return "a tag runs past total_size";
    case Mb2Error::MissingEndTag: return "no end tag";
    case Mb2Error::BadEndTag: return "end tag with a size other than 8";
    case Mb2Error::BadString: return "string tag without a terminating NUL";
    case Mb2Error::BadModule: return "malformed module tag";
    case Mb2Error::BadMemoryMap: return "malformed memory map tag";
    case Mb2Error::BadFramebuffer: return "malformed framebuffer tag";
    case Mb2Error::BadRsdp: return "ACPI RSDP tag too small";
    }
    return "unknown error";
}

MemoryRegion MemoryMap::operator[](size_t index) const {
    const size_t offset = index * entry_size;
    return {load<uint64_t>(entries, offset), load<uint64_t>(entries, offset + 8),
            static_cast<MemoryType>(load<uint32_t>(entries, offset + 16))};
}

Module BootInfo::module(size_t index) const {
    // Only called on a structure parse_multiboot2 accepted, so every tag header is in bounds.
    size_t seen = 0;
    const size_t total = load<uint32_t>(raw, 0);
    for (size_t offset = kTagHeaderBytes; offset + kTagHeaderBytes <= total;) {
        const uint32_t type = load<uint32_t>(raw, offset);
        const uint32_t size = load<uint32_t>(raw, offset + 4);
        if (type == kTagEnd) break;
        if (type == kTagModule && seen++ == index) {
            Bytes tag = raw.subspan(offset, size);
            Module module{load<uint32_t>(tag, 8), load<uint32_t>(tag, 12), {}};
            read_string(tag, kModuleHeaderBytes, module.name);
            return module;
        }
        offset += align8(size);
    }
    return {0, 0, {}};
}

uint64_t BootInfo::usable_bytes() const {
    if (!has_memory_map) return has_basic_memory ? uint64_t{upper_memory_kib} * 1024 : 0;
    uint64_t total = 0;
    for (size_t i = 0; i < memory_map.count(); ++i) {
        MemoryRegion region = memory_map[i];
        if (region.type == MemoryType::Available) total += region.length;
    }
    return total;
}

kstd::Result<BootInfo, Mb2Error> parse_multiboot2(Bytes info) {
    if (reinterpret_cast<uintptr_t>(info.data()) % 8 != 0) return fail(Mb2Error::Misaligned);
    if (info.size() < kTagHeaderBytes) return fail(Mb2Error::TooSmall);
    const uint32_t total_size = load<uint32_t>(info, 0);
    if (total_size < 2 * kTagHeaderBytes) return fail(Mb2Error::TooSmall);
    if (total_size > info.size()) return fail(Mb2Error::TotalSizePastBuffer);
    if (total_size % 8 != 0) return fail(Mb2Error::TotalSizeUnaligned);

    BootInfo boot;
    boot.raw = info.subspan(0, total_size);
    bool saw_end = false;

    // Invariant: offset is 8-aligned and offset + 8 <= total_size at the top of each iteration.
    for (size_t offset = kTagHeaderBytes; offset + kTagHeaderBytes <= total_size;) {
        const uint32_t type = load<uint32_t>(info, offset);
        const uint32_t size = load<uint32_t>(info, offset + 4);
        if (size < kTagHeaderBytes) return fail(Mb2Error::TagTooSmall);
        if (size > total_size - offset) return fail(Mb2Error::TagPastEnd);
        Bytes tag = info.subspan(offset, size);

        switch (type) {
        case kTagEnd:
            if (size != kTagHeaderBytes) return fail(Mb2Error::BadEndTag);
            saw_end = true;
            break;
        case kTagCommandLine:
            if (!read_string(tag, kTagHeaderBytes, boot.command_line))
                return fail(Mb2Error::BadString);
            break;
        case kTagBootloaderName:
            if (!read_string(tag, kTagHeaderBytes, boot.bootloader_name))
                return fail(Mb2Error::BadString);
            break;
        case kTagModule: {
            kstd::StringView name;
            if (size < kModuleHeaderBytes + 1 || !read_string(tag, kModuleHeaderBytes, name))
                return fail(Mb2Error::BadModule);
            if (load<uint32_t>(tag, 12) < load<uint32_t>(tag, 8)) return fail(Mb2Error::BadModule);
            ++boot.module_count;
            break;
        }
        case kTagBasicMemory:
            if (size < 16) return fail(Mb2Error::TagTooSmall);
            boot.has_basic_memory = true;
            boot.lower_memory_kib = load<uint32_t>(tag, 8);
            boot.upper_memory_kib = load<uint32_t>(tag, 12);
            break;
        case kTagMemoryMap: {
            if (size < kMemoryMapHeaderBytes) return fail(Mb2Error::BadMemoryMap);
            const uint32_t entry_size = load<uint32_t>(tag, 8);
            // Entries may grow in later versions, never shrink; the spec keeps them 8-aligned.
            if (entry_size < kMemoryMapEntryBytes || entry_size % 8 != 0)
                return fail(Mb2Error::BadMemoryMap);
            const size_t entry_bytes = size - kMemoryMapHeaderBytes;
            boot.memory_map.entry_size = entry_size;
            boot.memory_map.entries =
                tag.subspan(kMemoryMapHeaderBytes, entry_bytes - entry_bytes % entry_size);
            boot.has_memory_map = true;
            break;
        }
        case kTagFramebuffer:
            if (size < kFramebufferFixedBytes) return fail(Mb2Error::BadFramebuffer);
            boot.framebuffer.address = load<uint64_t>(tag, 8);
            boot.framebuffer.pitch = load<uint32_t>(tag, 16);
            boot.framebuffer.width = load<uint32_t>(tag, 20);
            boot.framebuffer.height = load<uint32_t>(tag, 24);
            boot.framebuffer.bits_per_pixel = tag[28];
            if (tag[29] > static_cast<uint8_t>(FramebufferType::EgaText))
                return fail(Mb2Error::BadFramebuffer);
            boot.framebuffer.type = static_cast<FramebufferType>(tag[29]);
            if (boot.framebuffer.type == FramebufferType::Rgb) {
                if (size < kFramebufferRgbBytes) return fail(Mb2Error::BadFramebuffer);
                boot.framebuffer.red = {tag[kFramebufferColorInfo], tag[kFramebufferColorInfo + 1]};
                boot.framebuffer.green = {tag[kFramebufferColorInfo + 2], tag[kFramebufferColorInfo + 3]};
                boot.framebuffer.blue = {tag[kFramebufferColorInfo + 4], tag[kFramebufferColorInfo + 5]};
            }
            boot.has_framebuffer = true;
            break;
        case kTagEfi32SystemTable:
            if (size < 12) return fail(Mb2Error::TagTooSmall);
            boot.booted_by_uefi = true;
            boot.efi_system_table = load<uint32_t>(tag, 8);
            break;
        case kTagEfi64SystemTable:
            if (size < 16) return fail(Mb2Error::TagTooSmall);
            boot.booted_by_uefi = true;
            boot.efi_system_table = load<uint64_t>(tag, 8);
            break;
        case kTagAcpiOldRsdp:
            if (size < kTagHeaderBytes + kRsdpV1Bytes) return fail(Mb2Error::BadRsdp);
            boot.acpi_rsdp_v1 = tag.subspan(kTagHeaderBytes);
            break;
        case kTagAcpiNewRsdp:
            if (size < kTagHeaderBytes + kRsdpV2Bytes) return fail(Mb2Error::BadRsdp);
            boot.acpi_rsdp_v2 = tag.subspan(kTagHeaderBytes);
            break;
        case kTagLoadBaseAddress:
            if (size < 12) return fail(Mb2Error::TagTooSmall);
            boot.has_load_base = true;
            boot.load_base_address = load<uint32_t>(tag, 8);
            break;
        default:
            break;  // tags we do not use are skipped by size, as the spec requires
        }
        if (saw_end) break;
        offset += align8(size);
    }
    if (!saw_end) return fail(Mb2Error::MissingEndTag);
    return boot;
}

}  // namespace boot
