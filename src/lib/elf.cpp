// ELF64 program-header parser (see elf.hpp). One pass over the program headers; every range is
// checked with subtraction rather than addition, so no 64-bit sum from the file can wrap.
#include "lib/elf.hpp"

#include "lib/bytes.hpp"

namespace elf {
namespace {

using kstd::Bytes;
using kstd::fail;
using kstd::load;

// [gABI §4 "ELF Header"] e_ident indices and values, and the header field offsets of ELF64.
constexpr size_t kEhdrBytes = 64;
constexpr size_t kIdentClass = 4;
constexpr size_t kIdentData = 5;
constexpr size_t kIdentVersion = 6;
constexpr uint8_t kElfClass64 = 2;
constexpr uint8_t kElfData2Lsb = 1;
constexpr uint32_t kEvCurrent = 1;
constexpr uint16_t kEtExec = 2;
constexpr uint16_t kEmX86_64 = 62;  // [x86-64 psABI §4.1.1]
constexpr size_t kOffType = 16;
constexpr size_t kOffMachine = 18;
constexpr size_t kOffVersion = 20;
constexpr size_t kOffEntry = 24;
constexpr size_t kOffPhoff = 32;
constexpr size_t kOffPhentsize = 54;
constexpr size_t kOffPhnum = 56;
// [gABI §4 "Sections"] e_phnum == PN_XNUM means the real count lives in section header 0.
constexpr uint16_t kPnXnum = 0xFFFF;

// [gABI §5 "Program Header"] Elf64_Phdr layout and the values read from it.
constexpr size_t kPhdrBytes = 56;
constexpr size_t kOffPType = 0;
constexpr size_t kOffPFlags = 4;
constexpr size_t kOffPOffset = 8;
constexpr size_t kOffPVaddr = 16;
constexpr size_t kOffPFilesz = 32;
constexpr size_t kOffPMemsz = 40;
constexpr uint32_t kPtLoad = 1;
constexpr uint32_t kPfX = 1;
constexpr uint32_t kPfW = 2;

constexpr uint64_t kPageMask = kPageBytes - 1;

bool has_magic(Bytes file) {
    return file[0] == 0x7F && file[1] == 'E' && file[2] == 'L' && file[3] == 'F';
}

// True if [offset, offset + size) lies in a buffer of `total` bytes, without computing the sum.
bool range_inside(uint64_t offset, uint64_t size, uint64_t total) {
    return offset <= total && size <= total - offset;
}

// The pages a segment occupies: [first, end), both multiples of kPageBytes.
struct PageRange {
    uint64_t first;
    uint64_t end;
};

bool overlaps(PageRange a, PageRange b) { return a.first < b.end && b.first < a.end; }

// Checks one non-empty PT_LOAD against the file and the limits; returns the pages it occupies.
kstd::Result<PageRange, ElfError> check_segment(const Segment& segment, uint64_t file_bytes,
                                                const Limits& limits) {
    if (!range_inside(segment.file_offset, segment.file_size, file_bytes))
        return fail(ElfError::SegmentOutsideFile);
    // [gABI §5] loadable segments have p_vaddr ≡ p_offset (mod p_align); the kernel demands it
    // at page granularity, so a file page could later be mapped rather than copied.
    if ((segment.vaddr & kPageMask) != (segment.file_offset & kPageMask))
        return fail(ElfError::BadAlignment);
    // The kernel maps whole pages, so the rounded range is what must stay in user space; with
    // page-aligned limits that is the same as the byte range.
    if (segment.mem_size > ~uint64_t{0} - segment.vaddr)
        return fail(ElfError::SegmentOutsideUserSpace);
    const uint64_t end_byte = segment.vaddr + segment.mem_size;
    if (end_byte > ~uint64_t{0} - kPageMask) return fail(ElfError::SegmentOutsideUserSpace);
    const PageRange pages{segment.vaddr & ~kPageMask, (end_byte + kPageMask) & ~kPageMask};
    if (pages.first < limits.user_base || pages.end > limits.user_limit)
        return fail(ElfError::SegmentOutsideUserSpace);
    return pages;
}

}  // namespace

const char* describe(ElfError error) {
    switch (error) {
    case ElfError::TooSmall: return "file too small";
    case ElfError::BadMagic: return "not an ELF file";
    case ElfError::NotElf64: return "not ELF64";
    case ElfError::NotLittleEndian: return "not little-endian";
    case ElfError::BadVersion: return "bad ELF version";
    case ElfError::NotExecutable: return "not an executable";
    case ElfError::WrongMachine: return "not x86-64";
    case ElfError::BadProgramHeaders: return "bad program header table";
    case ElfError::TooManySegments: return "too many segments";
    case ElfError::NoLoadableSegment: return "no loadable segment";
    case ElfError::SegmentOutsideUserSpace: return "segment outside user space";
    case ElfError::SegmentsOverlap: return "segments overlap";
    case ElfError::FileSizeExceedsMemSize: return "file size exceeds memory size";
    case ElfError::SegmentOutsideFile: return "segment outside file";
    case ElfError::BadAlignment: return "segment misaligned";
    case ElfError::EntryOutsideCode: return "entry outside code";
    }
    return "unknown error";
}

kstd::Result<Image, ElfError> parse(Bytes file, const Limits& limits) {
    if (file.size() < kEhdrBytes) return fail(ElfError::TooSmall);
    if (!has_magic(file)) return fail(ElfError::BadMagic);
    if (file[kIdentClass] != kElfClass64) return fail(ElfError::NotElf64);
    if (file[kIdentData] != kElfData2Lsb) return fail(ElfError::NotLittleEndian);
    if (file[kIdentVersion] != kEvCurrent || load<uint32_t>(file, kOffVersion) != kEvCurrent)
        return fail(ElfError::BadVersion);
    // Only static, non-PIE programs: ET_DYN would need relocating and an interpreter.
    if (load<uint16_t>(file, kOffType) != kEtExec) return fail(ElfError::NotExecutable);
    if (load<uint16_t>(file, kOffMachine) != kEmX86_64) return fail(ElfError::WrongMachine);

    const uint64_t phoff = load<uint64_t>(file, kOffPhoff);
    const uint16_t phnum = load<uint16_t>(file, kOffPhnum);
    if (load<uint16_t>(file, kOffPhentsize) != kPhdrBytes || phnum == kPnXnum)
        return fail(ElfError::BadProgramHeaders);
    // phnum < 0xFFFF, so phnum * 56 cannot overflow; once the table is known to lie in the file,
    // phoff + i * 56 below cannot wrap either.
    if (!range_inside(phoff, uint64_t{phnum} * kPhdrBytes, file.size()))
        return fail(ElfError::BadProgramHeaders);

    Image image{};
    image.entry = load<uint64_t>(file, kOffEntry);
    PageRange pages[kMaxSegments];

    for (size_t i = 0; i < phnum; ++i) {
        const Bytes phdr = file.subspan(static_cast<size_t>(phoff) + i * kPhdrBytes, kPhdrBytes);
        // Other types (PT_NOTE, PT_GNU_STACK, PT_TLS, ...) carry nothing the loader maps.
        if (load<uint32_t>(phdr, kOffPType) != kPtLoad) continue;

        const uint32_t flags = load<uint32_t>(phdr, kOffPFlags);
        const Segment segment{load<uint64_t>(phdr, kOffPVaddr),  load<uint64_t>(phdr, kOffPMemsz),
                              load<uint64_t>(phdr, kOffPOffset), load<uint64_t>(phdr, kOffPFilesz),
                              (flags & kPfW) != 0,               (flags & kPfX) != 0};
        // [gABI §5] "p_filesz may not be larger than p_memsz".
        if (segment.file_size > segment.mem_size) return fail(ElfError::FileSizeExceedsMemSize);
        // An empty segment maps nothing, so where it claims to be does not matter.
        if (segment.mem_size == 0) continue;
        if (image.segment_count == kMaxSegments) return fail(ElfError::TooManySegments);

        auto checked = check_segment(segment, file.size(), limits);
        if (!checked) return fail(checked.error());
        // Each segment's pages get that segment's permissions; a shared page cannot have both.
        for (size_t j = 0; j < image.segment_count; ++j)
            if (overlaps(pages[j], checked.value())) return fail(ElfError::SegmentsOverlap);

        pages[image.segment_count] = checked.value();
        image.segments[image.segment_count++] = segment;
        if (checked->end > image.end) image.end = checked->end;
    }
    if (image.segment_count == 0) return fail(ElfError::NoLoadableSegment);

    for (size_t i = 0; i < image.segment_count; ++i) {
        const Segment& segment = image.segments[i];
        if (segment.executable && image.entry >= segment.vaddr &&
            image.entry - segment.vaddr < segment.mem_size)
            return image;
    }
    return fail(ElfError::EntryOutsideCode);
}

}  // namespace elf
