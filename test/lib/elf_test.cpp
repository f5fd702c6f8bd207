// Checks that elf::parse accepts the static executables the user-program loader needs, rejects
// each malformed field with its own error, and never reads outside the file: every image is built
// by hand here (no compiler or linker at test time) and handed over in a buffer of its exact size,
// so ASan reports even a one-byte overread.
#include "lib/elf.hpp"

#include <gtest/gtest.h>

#include <stdint.h>
#include <string.h>

#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using elf::ElfError;
using Buffer = std::vector<uint8_t>;

// [gABI §5] program header types and flags used below.
constexpr uint32_t kPtLoad = 1;
constexpr uint32_t kPtNote = 4;
constexpr uint32_t kPtTls = 7;
constexpr uint32_t kPtGnuStack = 0x6474E551;
constexpr uint32_t kPfX = 1;
constexpr uint32_t kPfW = 2;
constexpr uint32_t kPfR = 4;

constexpr uint64_t kUserBase = 0x08000000;
constexpr uint64_t kUserLimit = 0x40000000;
constexpr elf::Limits kLimits{kUserBase, kUserLimit};
constexpr uint64_t kMax = ~uint64_t{0};

struct Phdr {
    uint32_t type;
    uint32_t flags;
    uint64_t offset;
    uint64_t vaddr;
    uint64_t file_size;
    uint64_t mem_size;
    uint64_t align = 0x1000;
};

// Everything an ELF64 header and program header table say, with valid defaults; build() lays it
// out in a file of exactly file_size bytes, 0xCC (int3) wherever no header is written.
struct ElfSpec {
    uint8_t magic[4] = {0x7F, 'E', 'L', 'F'};
    uint8_t ident_class = 2;    // ELFCLASS64
    uint8_t ident_data = 1;     // ELFDATA2LSB
    uint8_t ident_version = 1;  // EV_CURRENT
    uint16_t type = 2;          // ET_EXEC
    uint16_t machine = 62;      // EM_X86_64
    uint32_t version = 1;
    uint64_t entry = 0;
    uint64_t phoff = 64;
    uint16_t phentsize = 56;
    int phnum = -1;  // -1: phdrs.size()
    std::vector<Phdr> phdrs;
    size_t file_size = 0;
};

template <typename T>
void put(Buffer& b, uint64_t at, T value) {
    if (at > b.size() || sizeof(T) > b.size() - at) return;  // headers placed off the end
    memcpy(b.data() + at, &value, sizeof(T));
}

Buffer build(const ElfSpec& spec) {
    Buffer b(spec.file_size, 0xCC);
    for (size_t i = 0; i < 16; ++i) put<uint8_t>(b, i, 0);
    for (size_t i = 0; i < 4; ++i) put<uint8_t>(b, i, spec.magic[i]);
    put<uint8_t>(b, 4, spec.ident_class);
    put<uint8_t>(b, 5, spec.ident_data);
    put<uint8_t>(b, 6, spec.ident_version);
    put<uint16_t>(b, 16, spec.type);
    put<uint16_t>(b, 18, spec.machine);
    put<uint32_t>(b, 20, spec.version);
    put<uint64_t>(b, 24, spec.entry);
    put<uint64_t>(b, 32, spec.phoff);
    put<uint64_t>(b, 40, 0);  // e_shoff: no section headers, the loader never reads them
    put<uint32_t>(b, 48, 0);
    put<uint16_t>(b, 52, 64);
    put<uint16_t>(b, 54, spec.phentsize);
    put<uint16_t>(b, 56, static_cast<uint16_t>(spec.phnum < 0 ? spec.phdrs.size() : spec.phnum));
    put<uint16_t>(b, 58, 64);
    put<uint16_t>(b, 60, 0);
    put<uint16_t>(b, 62, 0);
    for (size_t i = 0; i < spec.phdrs.size(); ++i) {
        const Phdr& p = spec.phdrs[i];
        if (spec.phoff > kMax - 56 * (i + 1)) break;
        const uint64_t at = spec.phoff + 56 * i;
        put<uint32_t>(b, at + 0, p.type);
        put<uint32_t>(b, at + 4, p.flags);
        put<uint64_t>(b, at + 8, p.offset);
        put<uint64_t>(b, at + 16, p.vaddr);
        put<uint64_t>(b, at + 24, p.vaddr);  // p_paddr: ignored
        put<uint64_t>(b, at + 32, p.file_size);
        put<uint64_t>(b, at + 40, p.mem_size);
        put<uint64_t>(b, at + 48, p.align);
    }
    return b;
}

// The image most tests start from, laid out like a small lld output (file offsets on the left,
// user addresses on the right):
//   0x000 ELF header, 3 program headers   text RX  [0x08000000, 0x08000100)  page  0x08000000
//   0x0e8 code (entry)
//   0x100 data (0x40 bytes, last in file) data RW  [0x08001100, 0x08003100)  pages 0x08001000-
//                                          file bytes to 0x08001140, then .bss      0x08003000
//   PT_GNU_STACK: ignored
constexpr size_t kText = 0;
constexpr size_t kData = 1;
constexpr size_t kStack = 2;

ElfSpec valid_spec() {
    ElfSpec spec;
    spec.entry = 0x080000E8;
    spec.phdrs = {
        {kPtLoad, kPfR | kPfX, 0x000, 0x08000000, 0x100, 0x100},
        {kPtLoad, kPfR | kPfW, 0x100, 0x08001100, 0x40, 0x2000},
        {kPtGnuStack, kPfR | kPfW, 0, 0, 0, 0, 16},
    };
    spec.file_size = 0x140;
    return spec;
}

// The smallest useful program: one RX segment holding the headers and `jmp .` at the entry.
ElfSpec minimal_spec() {
    ElfSpec spec;
    spec.entry = 0x08000078;
    spec.phdrs = {{kPtLoad, kPfR | kPfX, 0, 0x08000000, 0x7A, 0x7A}};
    spec.file_size = 0x7A;
    return spec;
}

Buffer build_minimal() {
    Buffer b = build(minimal_spec());
    b[0x78] = 0xEB;  // jmp rel8 -2
    b[0x79] = 0xFE;
    return b;
}

kstd::Result<elf::Image, ElfError> parse(const Buffer& file, const elf::Limits& limits = kLimits) {
    return elf::parse(kstd::Span<const uint8_t>(file.data(), file.size()), limits);
}

kstd::Result<elf::Image, ElfError> parse(const ElfSpec& spec, const elf::Limits& limits = kLimits) {
    return parse(build(spec), limits);
}

// The guarantees the loader relies on, checked on every image parse() accepts.
void expect_invariants(const elf::Image& image, size_t file_size, const elf::Limits& limits) {
    ASSERT_GE(image.segment_count, 1u);
    ASSERT_LE(image.segment_count, elf::kMaxSegments);
    bool entry_in_code = false;
    for (size_t i = 0; i < image.segment_count; ++i) {
        const elf::Segment& s = image.segments[i];
        EXPECT_GT(s.mem_size, 0u);
        EXPECT_LE(s.file_size, s.mem_size);
        EXPECT_LE(s.file_offset, file_size);
        EXPECT_LE(s.file_size, file_size - s.file_offset);
        ASSERT_LE(s.vaddr, limits.user_limit);
        const uint64_t first = s.vaddr & ~uint64_t{0xFFF};
        EXPECT_GE(first, limits.user_base);
        EXPECT_LE(s.mem_size, limits.user_limit - s.vaddr);
        const uint64_t end = (s.vaddr + s.mem_size + 0xFFF) & ~uint64_t{0xFFF};
        EXPECT_LE(end, limits.user_limit);
        EXPECT_LE(end, image.end);
        for (size_t j = 0; j < i; ++j) {
            const elf::Segment& t = image.segments[j];
            const uint64_t t_first = t.vaddr & ~uint64_t{0xFFF};
            const uint64_t t_end = (t.vaddr + t.mem_size + 0xFFF) & ~uint64_t{0xFFF};
            EXPECT_FALSE(first < t_end && t_first < end) << "segments " << j << " and " << i;
        }
        if (s.executable && image.entry >= s.vaddr && image.entry - s.vaddr < s.mem_size)
            entry_in_code = true;
    }
    EXPECT_TRUE(entry_in_code);
    EXPECT_EQ(image.end % 4096, 0u);
}

ElfError error_of(const ElfSpec& spec, const elf::Limits& limits = kLimits) {
    auto result = parse(spec, limits);
    EXPECT_FALSE(result.ok());
    return result.error();
}

// --- Accepted images --------------------------------------------------------------------------

TEST(Elf, ParsesTextAndDataWithBss) {
    auto result = parse(valid_spec());
    ASSERT_TRUE(result.ok()) << elf::describe(result.error());
    const elf::Image& image = result.value();
    EXPECT_EQ(image.entry, 0x080000E8u);
    ASSERT_EQ(image.segment_count, 2u);

    const elf::Segment& text = image.segments[0];
    EXPECT_EQ(text.vaddr, 0x08000000u);
    EXPECT_EQ(text.mem_size, 0x100u);
    EXPECT_EQ(text.file_offset, 0u);
    EXPECT_EQ(text.file_size, 0x100u);
    EXPECT_FALSE(text.writable);
    EXPECT_TRUE(text.executable);

    const elf::Segment& data = image.segments[1];
    EXPECT_EQ(data.vaddr, 0x08001100u);
    EXPECT_EQ(data.mem_size, 0x2000u);
    EXPECT_EQ(data.file_offset, 0x100u);
    EXPECT_EQ(data.file_size, 0x40u);
    EXPECT_TRUE(data.writable);
    EXPECT_FALSE(data.executable);

    // 0x08001100 + 0x2000 = 0x08003100, rounded up to the next page.
    EXPECT_EQ(image.end, 0x08004000u);
    expect_invariants(image, 0x140, kLimits);
}

TEST(Elf, ParsesMinimalSingleSegmentImage) {
    auto result = parse(build_minimal());
    ASSERT_TRUE(result.ok()) << elf::describe(result.error());
    ASSERT_EQ(result->segment_count, 1u);
    EXPECT_EQ(result->end, 0x08001000u);
}

TEST(Elf, ReturnsSegmentsInFileOrder) {
    ElfSpec spec = valid_spec();
    std::swap(spec.phdrs[kText], spec.phdrs[kData]);
    auto result = parse(spec);
    ASSERT_TRUE(result.ok()) << elf::describe(result.error());
    ASSERT_EQ(result->segment_count, 2u);
    EXPECT_EQ(result->segments[0].vaddr, 0x08001100u);
    EXPECT_EQ(result->segments[1].vaddr, 0x08000000u);
    EXPECT_EQ(result->end, 0x08004000u);
}

TEST(Elf, SegmentWithoutFlagsIsReadOnly) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].flags = 0;
    auto result = parse(spec);
    ASSERT_TRUE(result.ok());
    EXPECT_FALSE(result->segments[1].writable);
    EXPECT_FALSE(result->segments[1].executable);
}

TEST(Elf, IgnoresNonLoadHeaders) {
    // PT_NOTE and PT_TLS pointing nowhere sensible: the loader does not map them.
    ElfSpec spec = valid_spec();
    spec.phdrs[kStack] = {kPtNote, kPfR, kMax, kMax, kMax, 0, 3};
    spec.phdrs.push_back({kPtTls, kPfR, 0x123, 0x10, kMax, 1});
    spec.phdrs.push_back({0x70000000, 0, 0, 0, 0, 0});  // processor-specific
    spec.file_size = 64 + 5 * 56;  // the longer table now ends past the data bytes
    auto result = parse(spec);
    ASSERT_TRUE(result.ok()) << elf::describe(result.error());
    EXPECT_EQ(result->segment_count, 2u);
}

TEST(Elf, SkipsEmptyLoadSegment) {
    // memsz 0 maps nothing, so its wild offset and address do not matter.
    ElfSpec spec = valid_spec();
    spec.phdrs[kStack] = {kPtLoad, kPfR | kPfW | kPfX, kMax - 5, 0x10, 0, 0};
    auto result = parse(spec);
    ASSERT_TRUE(result.ok()) << elf::describe(result.error());
    EXPECT_EQ(result->segment_count, 2u);
}

TEST(Elf, AcceptsTrailingBytesAfterLastSegment) {
    ElfSpec spec = valid_spec();
    spec.file_size += 1000;  // e.g. section headers and the symbol table
    EXPECT_TRUE(parse(spec).ok());
}

TEST(Elf, AcceptsProgramHeaderTableEndingAtEndOfFile) {
    ElfSpec spec = valid_spec();
    spec.phoff = 0x140;
    spec.file_size = 0x140 + 3 * 56;
    EXPECT_TRUE(parse(spec).ok());
    spec.file_size -= 1;
    EXPECT_EQ(error_of(spec), ElfError::BadProgramHeaders);
}

TEST(Elf, AcceptsEntryAtEitherEndOfText) {
    ElfSpec spec = valid_spec();
    spec.entry = 0x08000000;
    EXPECT_TRUE(parse(spec).ok());
    spec.entry = 0x080000FF;
    EXPECT_TRUE(parse(spec).ok());
}

TEST(Elf, AcceptsEntryInBssOfExecutableSegment) {
    // Zero bytes are a bad program, not a memory-safety problem: the entry check is about pages.
    ElfSpec spec = valid_spec();
    spec.phdrs[kText].mem_size = 0x200;
    spec.entry = 0x08000180;
    EXPECT_TRUE(parse(spec).ok());
}

// --- Header errors ----------------------------------------------------------------------------

TEST(Elf, RejectsFileShorterThanHeader) {
    Buffer full = build(valid_spec());
    EXPECT_EQ(elf::parse(kstd::Span<const uint8_t>(), kLimits).error(), ElfError::TooSmall);
    Buffer short_file(full.begin(), full.begin() + 63);
    EXPECT_EQ(parse(short_file).error(), ElfError::TooSmall);
}

TEST(Elf, RejectsBadMagic) {
    for (size_t i = 0; i < 4; ++i) {
        ElfSpec spec = valid_spec();
        spec.magic[i] ^= 0x20;
        EXPECT_EQ(error_of(spec), ElfError::BadMagic) << "byte " << i;
    }
}

TEST(Elf, RejectsElf32) {
    ElfSpec spec = valid_spec();
    spec.ident_class = 1;  // ELFCLASS32
    EXPECT_EQ(error_of(spec), ElfError::NotElf64);
    spec.ident_class = 0;  // ELFCLASSNONE
    EXPECT_EQ(error_of(spec), ElfError::NotElf64);
}

TEST(Elf, RejectsBigEndian) {
    ElfSpec spec = valid_spec();
    spec.ident_data = 2;  // ELFDATA2MSB
    EXPECT_EQ(error_of(spec), ElfError::NotLittleEndian);
}

TEST(Elf, RejectsBadIdentVersion) {
    ElfSpec spec = valid_spec();
    spec.ident_version = 0;
    EXPECT_EQ(error_of(spec), ElfError::BadVersion);
}

TEST(Elf, RejectsBadHeaderVersion) {
    ElfSpec spec = valid_spec();
    spec.version = 2;
    EXPECT_EQ(error_of(spec), ElfError::BadVersion);
}

TEST(Elf, RejectsNonExecutableTypes) {
    for (uint16_t type : {0 /* NONE */, 1 /* REL */, 3 /* DYN, incl. PIE */, 4 /* CORE */}) {
        ElfSpec spec = valid_spec();
        spec.type = type;
        EXPECT_EQ(error_of(spec), ElfError::NotExecutable) << "e_type " << type;
    }
}

TEST(Elf, RejectsOtherMachines) {
    for (uint16_t machine : {3 /* 386 */, 40 /* ARM */, 183 /* AARCH64 */, 243 /* RISCV */}) {
        ElfSpec spec = valid_spec();
        spec.machine = machine;
        EXPECT_EQ(error_of(spec), ElfError::WrongMachine) << "e_machine " << machine;
    }
}

// --- Program header table ---------------------------------------------------------------------

TEST(Elf, RejectsWrongProgramHeaderEntrySize) {
    for (uint16_t size : {0, 32 /* Elf32_Phdr */, 55, 57, 64}) {
        ElfSpec spec = valid_spec();
        spec.phentsize = size;
        EXPECT_EQ(error_of(spec), ElfError::BadProgramHeaders) << "e_phentsize " << size;
    }
}

TEST(Elf, RejectsProgramHeadersPastEndOfFile) {
    ElfSpec spec = valid_spec();
    spec.phoff = 0x140 - 3 * 56 + 1;  // the table's last byte is one past the file
    EXPECT_EQ(error_of(spec), ElfError::BadProgramHeaders);
    spec = valid_spec();
    spec.phnum = 30;  // 64 + 30 * 56 > 0x140
    EXPECT_EQ(error_of(spec), ElfError::BadProgramHeaders);
}

TEST(Elf, RejectsHugeProgramHeaderOffset) {
    // phoff + 3 * 56 wraps to a small number that an unchecked sum would let through.
    for (uint64_t phoff : {kMax, kMax - 3 * 56 + 1, kMax - 3 * 56 + 0x41, uint64_t{1} << 63}) {
        ElfSpec spec = valid_spec();
        spec.phoff = phoff;
        EXPECT_EQ(error_of(spec), ElfError::BadProgramHeaders) << "e_phoff " << phoff;
    }
}

TEST(Elf, RejectsExtendedProgramHeaderNumbering) {
    ElfSpec spec = valid_spec();
    spec.phnum = 0xFFFF;  // PN_XNUM
    EXPECT_EQ(error_of(spec), ElfError::BadProgramHeaders);
}

// `count` small segments, one per page from the user base; the first is RX, the rest RW.
ElfSpec many_segments(size_t count) {
    ElfSpec spec;
    spec.entry = kUserBase;
    spec.phdrs.clear();
    for (size_t i = 0; i < count; ++i)
        spec.phdrs.push_back(
            {kPtLoad, kPfR | (i == 0 ? kPfX : kPfW), 0, kUserBase + 0x1000 * i, 0x40, 0x40});
    spec.file_size = 64 + 56 * count;
    return spec;
}

TEST(Elf, AcceptsMaximumSegmentCount) {
    auto result = parse(many_segments(elf::kMaxSegments));
    ASSERT_TRUE(result.ok()) << elf::describe(result.error());
    EXPECT_EQ(result->segment_count, elf::kMaxSegments);
    EXPECT_EQ(result->end, kUserBase + 0x1000 * elf::kMaxSegments);
}

TEST(Elf, RejectsTooManySegments) {
    EXPECT_EQ(error_of(many_segments(elf::kMaxSegments + 1)), ElfError::TooManySegments);
}

TEST(Elf, EmptySegmentsDoNotCountTowardsMaximum) {
    ElfSpec spec = many_segments(elf::kMaxSegments);
    spec.phdrs.insert(spec.phdrs.begin() + 1, {kPtLoad, kPfR, 0, 0, 0, 0});
    spec.phdrs.push_back({kPtLoad, kPfR, 0, 0, 0, 0});
    spec.file_size += 2 * 56;
    EXPECT_TRUE(parse(spec).ok());
}

TEST(Elf, RejectsImageWithoutLoadSegment) {
    ElfSpec spec = valid_spec();
    spec.phdrs = {spec.phdrs[kStack]};
    EXPECT_EQ(error_of(spec), ElfError::NoLoadableSegment);
    spec.phdrs.clear();  // e_phnum 0
    EXPECT_EQ(error_of(spec), ElfError::NoLoadableSegment);
    spec.phdrs = {{kPtLoad, kPfR | kPfX, 0, kUserBase, 0, 0}};  // only an empty one
    EXPECT_EQ(error_of(spec), ElfError::NoLoadableSegment);
}

// --- Segment errors ---------------------------------------------------------------------------

TEST(Elf, RejectsFileSizeLargerThanMemSize) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].mem_size = 0x3F;
    EXPECT_EQ(error_of(spec), ElfError::FileSizeExceedsMemSize);
    spec.phdrs[kData].mem_size = 0;  // not skipped as empty: it claims file bytes
    EXPECT_EQ(error_of(spec), ElfError::FileSizeExceedsMemSize);
}

TEST(Elf, RejectsSegmentRunningPastEndOfFile) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].file_size = 0x41;
    EXPECT_EQ(error_of(spec), ElfError::SegmentOutsideFile);
}

TEST(Elf, RejectsBssSegmentStartingPastEndOfFile) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].offset = 0x1140;  // congruent with its vaddr, no file bytes
    spec.phdrs[kData].vaddr = 0x08001140;
    spec.phdrs[kData].file_size = 0;
    EXPECT_EQ(error_of(spec), ElfError::SegmentOutsideFile);
    spec.phdrs[kData].offset = 0x140;  // exactly at the end: copies nothing, fine
    EXPECT_TRUE(parse(spec).ok());
}

TEST(Elf, RejectsFileRangeThatWraps) {
    // p_offset + p_filesz = 2^64 + 0x100: an unchecked sum would land inside the file.
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].offset = 0xFFFFFFFFFFFFF100;
    spec.phdrs[kData].file_size = 0x1000;
    spec.phdrs[kData].mem_size = 0x1000;
    EXPECT_EQ(error_of(spec), ElfError::SegmentOutsideFile);
}

TEST(Elf, RejectsVaddrNotCongruentWithOffset) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = 0x08001200;  // offset 0x100
    EXPECT_EQ(error_of(spec), ElfError::BadAlignment);
}

TEST(Elf, RejectsSegmentBelowUserBase) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kText].vaddr = kUserBase - 0x1000;
    spec.entry = kUserBase - 0x1000;
    EXPECT_EQ(error_of(spec), ElfError::SegmentOutsideUserSpace);
}

TEST(Elf, RejectsKernelAddress) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = 0xFFFFFFFF80001100;
    EXPECT_EQ(error_of(spec), ElfError::SegmentOutsideUserSpace);
}

// data segment [0x3FFFF100, 0x3FFFF100 + mem_size): the limit is 0x40000000.
TEST(Elf, AcceptsSegmentEndingExactlyAtUserLimit) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = kUserLimit - 0xF00;
    spec.phdrs[kData].mem_size = 0xF00;
    auto result = parse(spec);
    ASSERT_TRUE(result.ok()) << elf::describe(result.error());
    EXPECT_EQ(result->end, kUserLimit);
}

TEST(Elf, RejectsSegmentOneByteOverUserLimit) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = kUserLimit - 0xF00;
    spec.phdrs[kData].mem_size = 0xF01;
    EXPECT_EQ(error_of(spec), ElfError::SegmentOutsideUserSpace);
}

TEST(Elf, RejectsSegmentStartingAtUserLimit) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = kUserLimit + 0x100;
    EXPECT_EQ(error_of(spec), ElfError::SegmentOutsideUserSpace);
}

TEST(Elf, RejectsAddressRangeThatWraps) {
    // p_vaddr + p_memsz = 2^64 + 0x1100: an unchecked sum would look like a low user address.
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = 0xFFFFFFFFFFFFF100;
    spec.phdrs[kData].mem_size = 0x2000;
    EXPECT_EQ(error_of(spec), ElfError::SegmentOutsideUserSpace);
    EXPECT_EQ(error_of(spec, {0, kMax}), ElfError::SegmentOutsideUserSpace);
}

TEST(Elf, RejectsSegmentWhoseLastPageWraps) {
    // The bytes end at 2^64 - 1 with no wrap, but rounding up to the page would: even with limits
    // covering the whole address space the kernel could not express that page range.
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = 0xFFFFFFFFFFFFF100;
    spec.phdrs[kData].mem_size = 0xEFF;
    EXPECT_EQ(error_of(spec, {0, kMax}), ElfError::SegmentOutsideUserSpace);
}

TEST(Elf, JudgesSegmentPagesAgainstUnalignedLimit) {
    // The segment's bytes end exactly at the limit, but its last page runs past it.
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = 0x3FFFF100;
    spec.phdrs[kData].mem_size = 0xE80;
    EXPECT_EQ(error_of(spec, {kUserBase, 0x3FFFFF80}), ElfError::SegmentOutsideUserSpace);
    EXPECT_TRUE(parse(spec, {kUserBase, 0x40000000}).ok());
}

// pages:  0x08000000 text | 0x08001000 data
TEST(Elf, AcceptsSegmentsOnAdjacentPages) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kText].mem_size = 0x1000;  // text fills its page exactly
    spec.phdrs[kData].vaddr = 0x08001100;
    EXPECT_TRUE(parse(spec).ok());
}

// pages:  0x08000000 text+data  (text bytes 0x000-0x0ff, data bytes 0x100-...)
TEST(Elf, RejectsSegmentsSharingAPage) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = 0x08000100;
    EXPECT_EQ(error_of(spec), ElfError::SegmentsOverlap);
}

TEST(Elf, RejectsSegmentsSharingLastAndFirstPage) {
    // text ends at 0x08001001, so its pages run to 0x08002000; data starts in page 0x08001000.
    ElfSpec spec = valid_spec();
    spec.phdrs[kText].mem_size = 0x1001;
    EXPECT_EQ(error_of(spec), ElfError::SegmentsOverlap);
}

TEST(Elf, RejectsSegmentInsideAnother) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kText].mem_size = 0x10000;
    EXPECT_EQ(error_of(spec), ElfError::SegmentsOverlap);
}

TEST(Elf, RejectsOverlapWhateverTheOrder) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kData].vaddr = 0x08000100;
    std::swap(spec.phdrs[kText], spec.phdrs[kData]);
    EXPECT_EQ(error_of(spec), ElfError::SegmentsOverlap);
}

TEST(Elf, RejectsEntryInDataSegment) {
    ElfSpec spec = valid_spec();
    spec.entry = 0x08001100;
    EXPECT_EQ(error_of(spec), ElfError::EntryOutsideCode);
}

TEST(Elf, RejectsEntryJustPastText) {
    ElfSpec spec = valid_spec();
    spec.entry = 0x08000100;  // same page as text, but not in the segment
    EXPECT_EQ(error_of(spec), ElfError::EntryOutsideCode);
    spec.entry = 0;
    EXPECT_EQ(error_of(spec), ElfError::EntryOutsideCode);
    spec.entry = 0x07FFFFFF;
    EXPECT_EQ(error_of(spec), ElfError::EntryOutsideCode);
}

TEST(Elf, RejectsEntryWithoutExecutableSegment) {
    ElfSpec spec = valid_spec();
    spec.phdrs[kText].flags = kPfR;
    EXPECT_EQ(error_of(spec), ElfError::EntryOutsideCode);
}

TEST(Elf, DescribesEveryError) {
    std::set<std::string> seen;
    for (int e = 0; e <= static_cast<int>(ElfError::EntryOutsideCode); ++e) {
        const std::string text = elf::describe(static_cast<ElfError>(e));
        EXPECT_FALSE(text.empty());
        EXPECT_NE(text, "unknown error") << e;
        EXPECT_TRUE(seen.insert(text).second) << "duplicate: " << text;
    }
    EXPECT_STREQ(elf::describe(ElfError::SegmentOutsideUserSpace), "segment outside user space");
}

// --- Robustness -------------------------------------------------------------------------------

TEST(Elf, RejectsEveryTruncation) {
    // The data segment's file bytes end the file, so every proper prefix loses something needed:
    // the header (<64), a program header (<232), text bytes (<0x100) or data bytes (<0x140).
    const Buffer full = build(valid_spec());
    ASSERT_TRUE(parse(full).ok());
    for (size_t length = 0; length < full.size(); ++length) {
        const Buffer prefix(full.begin(), full.begin() + length);
        auto result = parse(prefix);
        ASSERT_FALSE(result.ok()) << "prefix of " << length << " bytes accepted";
        const ElfError expected = length < 64          ? ElfError::TooSmall
                                  : length < 64 + 3 * 56 ? ElfError::BadProgramHeaders
                                                         : ElfError::SegmentOutsideFile;
        EXPECT_EQ(result.error(), expected) << "prefix of " << length << " bytes";
    }
}

TEST(Elf, SurvivesRandomByteMutations) {
    // Any verdict is fine; an out-of-bounds read (ASan) or a broken guarantee is not.
    const Buffer valid = build(valid_spec());
    std::mt19937 rng(0x5AB1E);
    std::uniform_int_distribution<size_t> position(0, valid.size() - 1);
    std::uniform_int_distribution<int> value(0, 255);
    size_t accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        Buffer mutated = valid;
        mutated[position(rng)] = static_cast<uint8_t>(value(rng));
        auto result = parse(mutated);
        if (!result.ok()) continue;
        ++accepted;
        expect_invariants(result.value(), mutated.size(), kLimits);
        if (testing::Test::HasFailure()) FAIL() << "mutation " << i << " broke an invariant";
    }
    // Most bytes are code, data or fields the loader ignores, so many mutants still load.
    EXPECT_GT(accepted, 0u);
}

// --- Fuzzer seed corpus -----------------------------------------------------------------------
// test/fuzz/elf_corpus/ holds these builders' output. Regenerate after changing them with
//   build/host/elf_test --gtest_also_run_disabled_tests --gtest_filter='*WriteFuzzCorpus'

struct Seed {
    const char* name;
    Buffer bytes;
};

std::vector<Seed> seeds() {
    return {{"two_segments.elf", build(valid_spec())}, {"minimal.elf", build_minimal()}};
}

std::string corpus_path(const char* name) {
    return std::string(SABLE_TEST_DATA_DIR) + "/fuzz/elf_corpus/" + name;
}

TEST(Elf, FuzzCorpusMatchesBuilders) {
    for (const Seed& seed : seeds()) {
        std::ifstream in(corpus_path(seed.name), std::ios::binary);
        ASSERT_TRUE(in) << corpus_path(seed.name);
        const Buffer stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(stored, seed.bytes) << seed.name << " is stale; regenerate it (see above)";
        EXPECT_TRUE(parse(stored).ok()) << seed.name;
    }
}

TEST(Elf, DISABLED_WriteFuzzCorpus) {
    for (const Seed& seed : seeds()) {
        std::ofstream out(corpus_path(seed.name), std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(seed.bytes.data()),
                  static_cast<std::streamsize>(seed.bytes.size()));
        ASSERT_TRUE(out) << corpus_path(seed.name);
    }
}

}  // namespace
