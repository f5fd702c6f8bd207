// Checks that boot::parse_multiboot2 reads every tag the kernel uses from GRUB-like boot
// information and rejects corrupt structures with the right error, never reading out of bounds.
#include "boot/multiboot2.hpp"

#include <gtest/gtest.h>

#include <stdint.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

namespace {

using boot::Mb2Error;
using boot::MemoryType;

// Multiboot2 tag types [spec §3.6].
constexpr uint32_t kEnd = 0;
constexpr uint32_t kCommandLine = 1;
constexpr uint32_t kBootloaderName = 2;
constexpr uint32_t kModule = 3;
constexpr uint32_t kBasicMemory = 4;
constexpr uint32_t kBootDevice = 5;
constexpr uint32_t kMemoryMap = 6;
constexpr uint32_t kFramebuffer = 8;
constexpr uint32_t kEfi32 = 11;
constexpr uint32_t kEfi64 = 12;
constexpr uint32_t kAcpiOld = 14;
constexpr uint32_t kAcpiNew = 15;
constexpr uint32_t kLoadBase = 21;

using Buffer = std::vector<uint8_t>;

// Little-endian field writer for tag payloads.
class Payload {
public:
    Payload& u8(uint8_t value) {
        m_bytes.push_back(value);
        return *this;
    }
    Payload& u16(uint16_t value) { return raw(&value, sizeof value); }
    Payload& u32(uint32_t value) { return raw(&value, sizeof value); }
    Payload& u64(uint64_t value) { return raw(&value, sizeof value); }
    Payload& text(const std::string& value) { return raw(value.data(), value.size()); }
    Payload& zeros(size_t count) {
        m_bytes.insert(m_bytes.end(), count, 0);
        return *this;
    }
    const Buffer& bytes() const { return m_bytes; }

private:
    Payload& raw(const void* data, size_t size) {
        auto* bytes = static_cast<const uint8_t*>(data);
        m_bytes.insert(m_bytes.end(), bytes, bytes + size);
        return *this;
    }
    Buffer m_bytes;
};

struct MmapEntry {
    uint64_t base;
    uint64_t length;
    uint32_t type;
};

// Builds a boot information structure: 8-byte header, then tags each starting 8-aligned, their
// size fields excluding the padding. finish() writes total_size as the bytes written so far.
class Mb2Builder {
public:
    Mb2Builder() { m_bytes.resize(8, 0); }

    // A tag whose size field is 8 + payload size.
    Mb2Builder& add_tag(uint32_t type, const Buffer& payload) {
        return add_tag_with_size(type, static_cast<uint32_t>(8 + payload.size()), payload);
    }
    Mb2Builder& add_tag(uint32_t type, const Payload& payload) {
        return add_tag(type, payload.bytes());
    }
    // A tag whose size field says `size` whatever the payload, for lying headers.
    Mb2Builder& add_tag_with_size(uint32_t type, uint32_t size, const Buffer& payload) {
        append32(type);
        append32(size);
        m_bytes.insert(m_bytes.end(), payload.begin(), payload.end());
        pad();
        return *this;
    }
    // A string tag with its terminating NUL.
    Mb2Builder& add_string_tag(uint32_t type, const std::string& text) {
        return add_tag(type, Payload().text(text).u8(0));
    }
    Mb2Builder& add_mmap(const std::vector<MmapEntry>& entries, uint32_t entry_size = 24) {
        Payload payload;
        payload.u32(entry_size).u32(0);
        for (const MmapEntry& entry : entries) {
            payload.u64(entry.base).u64(entry.length).u32(entry.type).u32(0);
            // A later, larger entry version: unknown fields filled with a visible pattern.
            for (uint32_t i = 24; i < entry_size; ++i) payload.u8(0xee);
        }
        return add_tag(kMemoryMap, payload);
    }
    Mb2Builder& add_module(uint32_t start, uint32_t end, const std::string& name) {
        return add_tag(kModule, Payload().u32(start).u32(end).text(name).u8(0));
    }
    Mb2Builder& add_end() { return add_tag(kEnd, Buffer{}); }

    Buffer finish() const {
        Buffer result = m_bytes;
        const uint32_t total = static_cast<uint32_t>(result.size());
        memcpy(result.data(), &total, 4);
        return result;
    }

private:
    void append32(uint32_t value) {
        const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
        m_bytes.insert(m_bytes.end(), bytes, bytes + 4);
    }
    void pad() {
        while (m_bytes.size() % 8 != 0) m_bytes.push_back(0);
    }
    Buffer m_bytes;
};

void store32(Buffer& buffer, size_t offset, uint32_t value) {
    memcpy(buffer.data() + offset, &value, 4);
}

kstd::Result<boot::BootInfo, Mb2Error> parse(const Buffer& buffer) {
    return boot::parse_multiboot2(kstd::Bytes(buffer.data(), buffer.size()));
}

std::string str(kstd::StringView view) { return std::string(view.data(), view.size()); }

// The memory map QEMU's SeaBIOS reports for 1 GiB RAM: 128 MiB low (with the usual holes) and
// the rest above 4 GiB behind the PCI hole.
const std::vector<MmapEntry> kQemuMemoryMap = {
    {0x0, 0x9fc00, 1},                 // usable conventional memory
    {0x9fc00, 0x400, 2},               // EBDA
    {0xf0000, 0x10000, 2},             // BIOS ROM
    {0x100000, 0x7ee0000, 1},          // usable: 1 MiB .. 0x7fe0000
    {0x7fe0000, 0x20000, 2},           // ACPI tables, reserved
    {0xfffc0000, 0x40000, 2},          // firmware flash below 4 GiB
    {0x100000000, 0x40000000, 1},      // usable above 4 GiB
};

const Buffer kRsdpV1 = Payload().text("RSD PTR ").u8(0x5a).text("BOCHS ").u8(0).u32(0x7fe14a3).bytes();

// What GRUB hands a BIOS-booted kernel: tag order as GRUB 2.06 emits them.
Mb2Builder grub_like_tags() {
    Mb2Builder builder;
    builder.add_tag(kLoadBase, Payload().u32(0x100000))
        .add_string_tag(kCommandLine, "sable.test=boot console=serial")
        .add_string_tag(kBootloaderName, "GRUB 2.06")
        .add_tag(kBasicMemory, Payload().u32(639).u32(129856))
        .add_tag(kBootDevice, Payload().u32(0xe0).u32(0xffffffff).u32(0xffffffff))
        .add_mmap(kQemuMemoryMap)
        .add_tag(kFramebuffer, Payload().u64(0xb8000).u32(160).u32(80).u32(25).u8(16).u8(2).u16(0))
        .add_tag(kAcpiOld, kRsdpV1);
    return builder;
}

Buffer grub_like_info() { return grub_like_tags().add_end().finish(); }

// Header plus end tag: the smallest valid structure.
Buffer minimal_info() { return Mb2Builder().add_end().finish(); }

// A structure holding one tag before the end tag.
Buffer with_tag(uint32_t type, const Payload& payload) {
    return Mb2Builder().add_tag(type, payload).add_end().finish();
}

// Reads every byte a successful parse exposes, so ASan flags any view that leaves the buffer.
uint64_t touch_everything(const boot::BootInfo& info) {
    uint64_t sum = 0;
    for (char c : info.command_line) sum += static_cast<uint8_t>(c);
    for (char c : info.bootloader_name) sum += static_cast<uint8_t>(c);
    for (size_t i = 0; i < info.memory_map.count(); ++i) {
        boot::MemoryRegion region = info.memory_map[i];
        sum += region.base + region.length + static_cast<uint32_t>(region.type);
    }
    for (size_t i = 0; i < info.module_count; ++i) {
        boot::Module module = info.module(i);
        sum += module.start + module.end;
        for (char c : module.name) sum += static_cast<uint8_t>(c);
    }
    for (uint8_t b : info.acpi_rsdp_v1) sum += b;
    for (uint8_t b : info.acpi_rsdp_v2) sum += b;
    sum += info.usable_bytes();
    return sum;
}

}  // namespace

// ---- Valid structures ------------------------------------------------------------------------

TEST(Multiboot2, AcceptsHeaderAndEndTagAlone) {
    Buffer data = minimal_info();  // [total=16 reserved][type 0 size 8]
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_TRUE(info->command_line.empty());
    EXPECT_FALSE(info->has_memory_map);
    EXPECT_FALSE(info->has_basic_memory);
    EXPECT_FALSE(info->has_framebuffer);
    EXPECT_FALSE(info->booted_by_uefi);
    EXPECT_EQ(info->module_count, 0u);
    EXPECT_EQ(info->raw.size(), 16u);
}

TEST(Multiboot2, ReadsGrubCommandLine) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(str(info->command_line), "sable.test=boot console=serial");
}

TEST(Multiboot2, ReadsGrubBootloaderName) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(str(info->bootloader_name), "GRUB 2.06");
}

TEST(Multiboot2, ReadsGrubBasicMemory) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    ASSERT_TRUE(info->has_basic_memory);
    EXPECT_EQ(info->lower_memory_kib, 639u);
    EXPECT_EQ(info->upper_memory_kib, 129856u);
}

TEST(Multiboot2, ReadsGrubMemoryMapEntries) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    ASSERT_TRUE(info->has_memory_map);
    EXPECT_EQ(info->memory_map.entry_size, 24u);
    ASSERT_EQ(info->memory_map.count(), kQemuMemoryMap.size());
    for (size_t i = 0; i < kQemuMemoryMap.size(); ++i) {
        boot::MemoryRegion region = info->memory_map[i];
        EXPECT_EQ(region.base, kQemuMemoryMap[i].base) << "entry " << i;
        EXPECT_EQ(region.length, kQemuMemoryMap[i].length) << "entry " << i;
        EXPECT_EQ(static_cast<uint32_t>(region.type), kQemuMemoryMap[i].type) << "entry " << i;
    }
}

TEST(Multiboot2, ReadsGrubEgaTextFramebuffer) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    ASSERT_TRUE(info->has_framebuffer);
    EXPECT_EQ(info->framebuffer.address, 0xb8000u);
    EXPECT_EQ(info->framebuffer.pitch, 160u);
    EXPECT_EQ(info->framebuffer.width, 80u);
    EXPECT_EQ(info->framebuffer.height, 25u);
    EXPECT_EQ(info->framebuffer.bits_per_pixel, 16u);
    EXPECT_EQ(info->framebuffer.type, boot::FramebufferType::EgaText);
}

TEST(Multiboot2, ReadsGrubLoadBaseAddress) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    ASSERT_TRUE(info->has_load_base);
    EXPECT_EQ(info->load_base_address, 0x100000u);
}

TEST(Multiboot2, GrubBiosBootIsNotUefi) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_FALSE(info->booted_by_uefi);
    EXPECT_EQ(info->efi_system_table, 0u);
    EXPECT_EQ(info->module_count, 0u);
}

TEST(Multiboot2, RawCoversExactlyTotalSize) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->raw.data(), data.data());
    EXPECT_EQ(info->raw.size(), data.size());
}

TEST(Multiboot2, UsableBytesSumsOnlyAvailableRegions) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    // 0x9fc00 below 640 KiB + 0x7ee0000 from 1 MiB + 1 GiB above 4 GiB; reserved ranges excluded.
    EXPECT_EQ(info->usable_bytes(), 0x9fc00ull + 0x7ee0000ull + 0x40000000ull);
}

TEST(Multiboot2, UsableBytesExcludesAcpiAndDefectiveRegions) {
    Buffer data = Mb2Builder()
                      .add_mmap({{0x0, 0x1000, 1},
                                 {0x1000, 0x2000, 3},  // ACPI reclaimable
                                 {0x3000, 0x4000, 4},  // ACPI NVS
                                 {0x7000, 0x8000, 5},  // defective
                                 {0xf000, 0x10000, 1}})
                      .add_end()
                      .finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->usable_bytes(), 0x1000u + 0x10000u);
}

TEST(Multiboot2, UsableBytesFallsBackToBasicMemory) {
    Buffer data = with_tag(kBasicMemory, Payload().u32(639).u32(65536));
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->usable_bytes(), 65536ull * 1024);
}

TEST(Multiboot2, UsableBytesIsZeroWithoutMemoryInformation) {
    Buffer data = minimal_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->usable_bytes(), 0u);
}

TEST(Multiboot2, CountsModules) {
    Buffer data = Mb2Builder()
                      .add_module(0x200000, 0x201000, "init")
                      .add_module(0x300000, 0x380000, "ramdisk.img rw")
                      .add_end()
                      .finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->module_count, 2u);
}

TEST(Multiboot2, ReadsEachModuleByIndex) {
    // Modules interleaved with other tags: module(i) must count only type-3 tags.
    Buffer data = Mb2Builder()
                      .add_string_tag(kCommandLine, "x")
                      .add_module(0x200000, 0x201000, "init")
                      .add_tag(kBasicMemory, Payload().u32(639).u32(1024))
                      .add_module(0x300000, 0x380000, "ramdisk.img rw")
                      .add_end()
                      .finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    boot::Module first = info->module(0);
    EXPECT_EQ(first.start, 0x200000u);
    EXPECT_EQ(first.end, 0x201000u);
    EXPECT_EQ(str(first.name), "init");
    boot::Module second = info->module(1);
    EXPECT_EQ(second.start, 0x300000u);
    EXPECT_EQ(second.end, 0x380000u);
    EXPECT_EQ(str(second.name), "ramdisk.img rw");
}

TEST(Multiboot2, ModuleIndexPastCountIsEmpty) {
    Buffer data = Mb2Builder().add_module(0x200000, 0x201000, "init").add_end().finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    boot::Module missing = info->module(1);
    EXPECT_EQ(missing.start, 0u);
    EXPECT_EQ(missing.end, 0u);
    EXPECT_TRUE(missing.name.empty());
}

TEST(Multiboot2, AcceptsEmptyModule) {
    // start == end and an empty name: the smallest legal module tag (17 bytes).
    Buffer data = Mb2Builder().add_module(0x200000, 0x200000, "").add_end().finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    ASSERT_EQ(info->module_count, 1u);
    EXPECT_EQ(info->module(0).start, info->module(0).end);
    EXPECT_TRUE(info->module(0).name.empty());
}

TEST(Multiboot2, ReadsRgbFramebufferWithColourInfo) {
    Buffer data = with_tag(kFramebuffer, Payload()
                                             .u64(0xfd000000)
                                             .u32(4096)
                                             .u32(1024)
                                             .u32(768)
                                             .u8(32)
                                             .u8(1)
                                             .u16(0)
                                             // red pos/size, green pos/size, blue pos/size
                                             .u8(16).u8(8).u8(8).u8(8).u8(0).u8(8));
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    ASSERT_TRUE(info->has_framebuffer);
    EXPECT_EQ(info->framebuffer.address, 0xfd000000u);
    EXPECT_EQ(info->framebuffer.pitch, 4096u);
    EXPECT_EQ(info->framebuffer.width, 1024u);
    EXPECT_EQ(info->framebuffer.height, 768u);
    EXPECT_EQ(info->framebuffer.bits_per_pixel, 32u);
    EXPECT_EQ(info->framebuffer.type, boot::FramebufferType::Rgb);
    EXPECT_EQ(info->framebuffer.red.position, 16u);
    EXPECT_EQ(info->framebuffer.red.mask_size, 8u);
    EXPECT_EQ(info->framebuffer.green.position, 8u);
    EXPECT_EQ(info->framebuffer.green.mask_size, 8u);
    EXPECT_EQ(info->framebuffer.blue.position, 0u);
    EXPECT_EQ(info->framebuffer.blue.mask_size, 8u);
}

TEST(Multiboot2, ReadsBgrColourFieldsAsGiven) {
    // Blue in the high byte: the console must follow the fields, not assume xRGB.
    Buffer data = with_tag(
        kFramebuffer,
        Payload().u64(0x80000000).u32(3200).u32(800).u32(600).u8(32).u8(1).u16(0).u8(0).u8(8).u8(8).u8(8).u8(16).u8(8));
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->framebuffer.red.position, 0u);
    EXPECT_EQ(info->framebuffer.blue.position, 16u);
}

TEST(Multiboot2, RejectsRgbFramebufferWithoutColourInfo) {
    // Type 1 promises six colour bytes after the reserved field; five are one short.
    Buffer data = with_tag(
        kFramebuffer,
        Payload().u64(0x80000000).u32(3200).u32(800).u32(600).u8(32).u8(1).u16(0).u8(16).u8(8).u8(8).u8(8).u8(0));
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), boot::Mb2Error::BadFramebuffer);
}

TEST(Multiboot2, AcceptsFramebufferOfExactlyFixedFields) {
    // 30 bytes: everything up to framebuffer_type, no reserved field, no colour info.
    Buffer data = with_tag(kFramebuffer, Payload().u64(0xb8000).u32(160).u32(80).u32(25).u8(16).u8(2));
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->framebuffer.type, boot::FramebufferType::EgaText);
}

TEST(Multiboot2, Efi64SystemTableMarksUefiBoot) {
    Buffer data = with_tag(kEfi64, Payload().u64(0x7f9e018ull));
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_TRUE(info->booted_by_uefi);
    EXPECT_EQ(info->efi_system_table, 0x7f9e018ull);
}

TEST(Multiboot2, Efi64SystemTableAbove4GiBIsKeptWhole) {
    Buffer data = with_tag(kEfi64, Payload().u64(0x123456789abcdef0ull));
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->efi_system_table, 0x123456789abcdef0ull);
}

TEST(Multiboot2, Efi32SystemTableMarksUefiBoot) {
    Buffer data = with_tag(kEfi32, Payload().u32(0x7f9e018));
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_TRUE(info->booted_by_uefi);
    EXPECT_EQ(info->efi_system_table, 0x7f9e018u);
}

TEST(Multiboot2, RsdpV1IsAViewOfThe20ByteCopy) {
    Buffer data = grub_like_info();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    ASSERT_EQ(info->acpi_rsdp_v1.size(), 20u);
    EXPECT_EQ(Buffer(info->acpi_rsdp_v1.begin(), info->acpi_rsdp_v1.end()), kRsdpV1);
    EXPECT_TRUE(info->acpi_rsdp_v2.empty());
    // A view into the caller's buffer, not a copy.
    EXPECT_GE(info->acpi_rsdp_v1.data(), data.data());
    EXPECT_LE(info->acpi_rsdp_v1.end(), data.data() + data.size());
}

TEST(Multiboot2, RsdpV2IsAViewOfThe36ByteCopy) {
    Payload rsdp;
    rsdp.text("RSD PTR ").u8(0x11).text("BOCHS ").u8(2).u32(0x7fe14a3);  // ACPI 1.0 part
    rsdp.u32(36).u64(0x7fe15c7).u8(0x22).zeros(3);                     // length, XSDT, checksum
    ASSERT_EQ(rsdp.bytes().size(), 36u);
    Buffer data = with_tag(kAcpiNew, rsdp);
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    ASSERT_EQ(info->acpi_rsdp_v2.size(), 36u);
    EXPECT_EQ(Buffer(info->acpi_rsdp_v2.begin(), info->acpi_rsdp_v2.end()), rsdp.bytes());
    EXPECT_TRUE(info->acpi_rsdp_v1.empty());
}

TEST(Multiboot2, SkipsUnknownTagTypes) {
    // Types 9 (ELF sections), 99 and 0xffffffff are not read; the walk must step over them by size.
    Buffer data = Mb2Builder()
                      .add_tag(9, Payload().u32(1).u32(2).u32(3).u32(4).u8(0xab))
                      .add_tag(99, Payload().zeros(3))
                      .add_tag(0xffffffff, Buffer{})
                      .add_string_tag(kCommandLine, "after unknown tags")
                      .add_end()
                      .finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(str(info->command_line), "after unknown tags");
}

TEST(Multiboot2, ReadsMemoryMapWithLargerEntrySize) {
    // A future entry version: 32-byte entries, 8 unknown bytes after each 24-byte entry.
    Buffer data = Mb2Builder().add_mmap(kQemuMemoryMap, 32).add_end().finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->memory_map.entry_size, 32u);
    ASSERT_EQ(info->memory_map.count(), kQemuMemoryMap.size());
    for (size_t i = 0; i < kQemuMemoryMap.size(); ++i) {
        EXPECT_EQ(info->memory_map[i].base, kQemuMemoryMap[i].base) << "entry " << i;
        EXPECT_EQ(info->memory_map[i].length, kQemuMemoryMap[i].length) << "entry " << i;
        EXPECT_EQ(static_cast<uint32_t>(info->memory_map[i].type), kQemuMemoryMap[i].type)
            << "entry " << i;
    }
}

TEST(Multiboot2, MemoryMapIgnoresTrailingPartialEntry) {
    // Two whole entries then 12 stray bytes: count() is 2 and no entry reaches into the stray bytes.
    Payload payload;
    payload.u32(24).u32(0);
    payload.u64(0).u64(0x9fc00).u32(1).u32(0);
    payload.u64(0x100000).u64(0x100000).u32(1).u32(0);
    payload.zeros(12);
    Buffer data = with_tag(kMemoryMap, payload);
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->memory_map.count(), 2u);
    EXPECT_EQ(info->memory_map.entries.size(), 48u);
}

TEST(Multiboot2, AcceptsEmptyMemoryMap) {
    Buffer data = Mb2Builder().add_mmap({}).add_end().finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_TRUE(info->has_memory_map);
    EXPECT_EQ(info->memory_map.count(), 0u);
    EXPECT_EQ(info->usable_bytes(), 0u);
}

TEST(Multiboot2, StopsAtEndTagDespiteTrailingBytes) {
    // [header][cmdline][end][garbage: a tag claiming 0xffffffff bytes] - total_size covers it all.
    Buffer data = Mb2Builder()
                      .add_string_tag(kCommandLine, "before end")
                      .add_end()
                      .add_tag_with_size(kCommandLine, 0xffffffff, Payload().zeros(8).bytes())
                      .finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(str(info->command_line), "before end");
}

TEST(Multiboot2, AcceptsBufferLongerThanTotalSize) {
    Buffer data = grub_like_info();
    const size_t total = data.size();
    data.resize(total + 64, 0xcc);
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(info->raw.size(), total);
}

TEST(Multiboot2, AcceptsEmptyCommandLine) {
    Buffer data = Mb2Builder().add_string_tag(kCommandLine, "").add_end().finish();
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_TRUE(info->command_line.empty());
}

TEST(Multiboot2, CommandLineEndsAtFirstNul) {
    Buffer data = with_tag(kCommandLine, Payload().text("a=1").u8(0).text("junk").u8(0));
    auto info = parse(data);
    ASSERT_TRUE(info.ok()) << boot::describe(info.error());
    EXPECT_EQ(str(info->command_line), "a=1");
}

TEST(Multiboot2, DescribesEveryError) {
    for (Mb2Error error :
         {Mb2Error::TooSmall, Mb2Error::Misaligned, Mb2Error::TotalSizePastBuffer,
          Mb2Error::TotalSizeUnaligned, Mb2Error::TagTooSmall, Mb2Error::TagPastEnd,
          Mb2Error::MissingEndTag, Mb2Error::BadEndTag, Mb2Error::BadString, Mb2Error::BadModule,
          Mb2Error::BadMemoryMap, Mb2Error::BadFramebuffer, Mb2Error::BadRsdp}) {
        EXPECT_STRNE(boot::describe(error), "unknown error") << static_cast<int>(error);
    }
}

// ---- Corrupt structures ----------------------------------------------------------------------

TEST(Multiboot2, RejectsEmptyBuffer) {
    Buffer data;
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TooSmall);
}

TEST(Multiboot2, RejectsBufferShorterThanHeader) {
    Buffer data = {32, 0, 0, 0};  // half a header
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TooSmall);
}

TEST(Multiboot2, RejectsTotalSizeBelowHeaderPlusEndTag) {
    Buffer data = minimal_info();
    store32(data, 0, 8);  // header only, no room for an end tag
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TooSmall);
}

TEST(Multiboot2, RejectsTotalSizeZero) {
    Buffer data = minimal_info();
    store32(data, 0, 0);
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TooSmall);
}

TEST(Multiboot2, RejectsTotalSizePastBuffer) {
    Buffer data = minimal_info();
    store32(data, 0, 24);  // claims 24 bytes, 16 provided
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TotalSizePastBuffer);
}

TEST(Multiboot2, RejectsTotalSizeAllOnes) {
    Buffer data = minimal_info();
    store32(data, 0, 0xffffffff);
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TotalSizePastBuffer);
}

TEST(Multiboot2, RejectsTotalSizeNotMultipleOf8) {
    // [header total=20][end tag][4 more bytes] - the buffer holds all 20 bytes.
    Buffer data = minimal_info();
    data.resize(20, 0);
    store32(data, 0, 20);
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TotalSizeUnaligned);
}

TEST(Multiboot2, RejectsMisalignedStart) {
    // operator new gives 16-aligned storage, so data()+4 is 4 mod 8.
    Buffer valid = grub_like_info();
    Buffer shifted(valid.size() + 4, 0);
    memcpy(shifted.data() + 4, valid.data(), valid.size());
    ASSERT_EQ(reinterpret_cast<uintptr_t>(shifted.data() + 4) % 8, 4u);
    auto info = boot::parse_multiboot2(kstd::Bytes(shifted.data() + 4, valid.size()));
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::Misaligned);
}

TEST(Multiboot2, RejectsTagSmallerThanHeader) {
    Buffer data = Mb2Builder()
                      .add_tag_with_size(kCommandLine, 4, Buffer{})
                      .add_end()
                      .finish();
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TagTooSmall);
}

TEST(Multiboot2, RejectsZeroSizedTagInsteadOfLooping) {
    // A size-0 tag would leave the offset where it is forever.
    Buffer data = Mb2Builder().add_tag_with_size(99, 0, Buffer{}).add_end().finish();
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TagTooSmall);
}

TEST(Multiboot2, RejectsTagRunningPastTotalSize) {
    // [header total=32][cmdline size=32 at offset 8 ...] - 8 bytes past the end.
    Buffer data = Mb2Builder()
                      .add_tag_with_size(kCommandLine, 32, Payload().text("abc").u8(0).bytes())
                      .add_end()
                      .finish();
    ASSERT_EQ(data.size(), 32u);
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TagPastEnd);
}

TEST(Multiboot2, RejectsTagSizeAllOnes) {
    Buffer data = Mb2Builder().add_tag_with_size(99, 0xffffffff, Buffer{}).add_end().finish();
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TagPastEnd);
}

TEST(Multiboot2, RejectsMissingEndTag) {
    // Tags fill total_size exactly and none has type 0.
    Buffer data = Mb2Builder()
                      .add_string_tag(kCommandLine, "no end")
                      .add_tag(kBasicMemory, Payload().u32(639).u32(1024))
                      .finish();
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::MissingEndTag);
}

TEST(Multiboot2, RejectsEndTagOfSize16) {
    Buffer data = Mb2Builder().add_tag(kEnd, Payload().zeros(8)).finish();
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadEndTag);
}

TEST(Multiboot2, RejectsCommandLineWithoutNul) {
    Buffer data = with_tag(kCommandLine, Payload().text("sable.test=boot"));
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadString);
}

TEST(Multiboot2, RejectsCommandLineWhoseNulIsOnlyInPadding) {
    // The tag is 11 bytes; the zero padding after it is not part of the string.
    Buffer data = with_tag(kCommandLine, Payload().text("abc"));
    ASSERT_EQ(data[8 + 11], 0);  // padding byte right after the tag
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadString);
}

TEST(Multiboot2, RejectsEmptyCommandLineTag) {
    // An 8-byte tag with no payload has no room for even the NUL.
    Buffer data = with_tag(kCommandLine, Payload());
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadString);
}

TEST(Multiboot2, RejectsBootloaderNameWithoutNul) {
    Buffer data = with_tag(kBootloaderName, Payload().text("GRUB"));
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadString);
}

TEST(Multiboot2, RejectsModuleWithoutRoomForName) {
    // 16 bytes: start and end, but not even the name's NUL.
    Buffer data = with_tag(kModule, Payload().u32(0x200000).u32(0x201000));
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadModule);
}

TEST(Multiboot2, RejectsModuleWithoutEndAddress) {
    Buffer data = with_tag(kModule, Payload().u32(0x200000));  // 12 bytes
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadModule);
}

TEST(Multiboot2, RejectsModuleEndingBeforeItStarts) {
    Buffer data = Mb2Builder().add_module(0x201000, 0x200000, "backwards").add_end().finish();
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadModule);
}

TEST(Multiboot2, RejectsModuleNameWithoutNul) {
    Buffer data = with_tag(kModule, Payload().u32(0x200000).u32(0x201000).text("init"));
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadModule);
}

TEST(Multiboot2, RejectsMemoryMapEntrySizeZero) {
    Buffer data = Mb2Builder().add_mmap({}, 0).add_end().finish();
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadMemoryMap);
}

TEST(Multiboot2, RejectsMemoryMapEntrySizeSmallerThanAnEntry) {
    // 20 bytes cannot hold base, length and type plus the reserved word.
    Payload payload;
    payload.u32(20).u32(0).u64(0).u64(0x9fc00).u32(1);
    Buffer data = with_tag(kMemoryMap, payload);
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadMemoryMap);
}

TEST(Multiboot2, RejectsMemoryMapEntrySizeNotMultipleOf8) {
    Buffer data = Mb2Builder().add_mmap(kQemuMemoryMap, 28).add_end().finish();
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadMemoryMap);
}

TEST(Multiboot2, RejectsMemoryMapSmallerThanItsHeader) {
    Buffer data = with_tag(kMemoryMap, Payload().u32(24));  // 12 bytes: no entry_version
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadMemoryMap);
}

TEST(Multiboot2, RejectsFramebufferSmallerThanFixedFields) {
    // 29 bytes: framebuffer_type (byte 29) is missing.
    Buffer data = with_tag(kFramebuffer, Payload().u64(0xb8000).u32(160).u32(80).u32(25).u8(16));
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadFramebuffer);
}

TEST(Multiboot2, RejectsUnknownFramebufferType) {
    Buffer data =
        with_tag(kFramebuffer, Payload().u64(0xb8000).u32(160).u32(80).u32(25).u8(16).u8(7).u16(0));
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadFramebuffer);
}

TEST(Multiboot2, RejectsRsdpV1TagWithShortPayload) {
    Buffer data = with_tag(kAcpiOld, Payload().text("RSD PTR ").zeros(2));  // 10 of 20 bytes
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadRsdp);
}

TEST(Multiboot2, RejectsRsdpV2TagHoldingOnlyAV1Rsdp) {
    Buffer data = with_tag(kAcpiNew, Payload().text("RSD PTR ").zeros(12));  // 20 of 36 bytes
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadRsdp);
}

TEST(Multiboot2, RejectsEfi64TagTooSmall) {
    Buffer data = with_tag(kEfi64, Payload().u32(0x7f9e018));  // 12 bytes, needs 16
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TagTooSmall);
}

TEST(Multiboot2, RejectsEfi32TagTooSmall) {
    Buffer data = with_tag(kEfi32, Payload());  // 8 bytes, needs 12
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TagTooSmall);
}

TEST(Multiboot2, RejectsBasicMemoryTagTooSmall) {
    Buffer data = with_tag(kBasicMemory, Payload().u32(639));  // 12 bytes, needs 16
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TagTooSmall);
}

TEST(Multiboot2, RejectsLoadBaseTagTooSmall) {
    Buffer data = with_tag(kLoadBase, Payload());  // 8 bytes, needs 12
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::TagTooSmall);
}

TEST(Multiboot2, RejectsCorruptTagAfterValidOnes) {
    // The error is found deep in a realistic structure, not only in the first tag.
    Buffer data = grub_like_tags().add_tag(kFramebuffer, Payload().u64(0)).add_end().finish();
    auto info = parse(data);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error(), Mb2Error::BadFramebuffer);
}

// ---- Robustness --------------------------------------------------------------------------------

TEST(Multiboot2, RejectsEveryTruncation) {
    // Each prefix is copied into an exact-size vector with total_size unchanged, so it always
    // claims more than it holds; ASan catches any read past the copy.
    const Buffer valid = grub_like_info();
    for (size_t length = 0; length < valid.size(); ++length) {
        Buffer prefix(valid.begin(), valid.begin() + static_cast<ptrdiff_t>(length));
        auto info = parse(prefix);
        ASSERT_FALSE(info.ok()) << "length " << length;
        EXPECT_EQ(info.error(), length < 8 ? Mb2Error::TooSmall : Mb2Error::TotalSizePastBuffer)
            << "length " << length;
    }
}

TEST(Multiboot2, SurvivesRandomByteCorruption) {
    // Realistic information plus two modules so module(i) is exercised too. Each round flips 1-4
    // bytes of an exact-size copy; ASan/UBSan abort the test on any bad read.
    const Buffer valid = grub_like_tags()
                             .add_module(0x200000, 0x201000, "init")
                             .add_module(0x300000, 0x380000, "ramdisk")
                             .add_end()
                             .finish();
    std::mt19937 random(20240601);
    std::uniform_int_distribution<size_t> position(0, valid.size() - 1);
    std::uniform_int_distribution<int> flip_count(1, 4);
    std::uniform_int_distribution<int> flip_bits(1, 255);
    size_t accepted = 0;
    size_t rejected = 0;
    uint64_t checksum = 0;
    for (int round = 0; round < 20000; ++round) {
        Buffer data = valid;
        for (int flips = flip_count(random); flips > 0; --flips)
            data[position(random)] ^= static_cast<uint8_t>(flip_bits(random));
        auto info = parse(data);
        if (info.ok()) {
            ++accepted;
            checksum += touch_everything(info.value());
        } else {
            ++rejected;
        }
    }
    // Both paths must have been exercised, or the test proves nothing.
    EXPECT_GT(accepted, 1000u);
    EXPECT_GT(rejected, 1000u);
    (void)checksum;
}
