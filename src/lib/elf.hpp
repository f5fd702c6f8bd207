// Portable parser for the program headers of a user program: a static, non-PIE ELF64 x86-64
// executable [System V gABI ch.4-5, x86-64 psABI §4]. It takes the file as a byte span, checks
// every field the loader relies on and returns the PT_LOAD segments to map; malformed or hostile
// files are rejected with an error, never read out of bounds.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"
#include "lib/span.hpp"

namespace elf {

// The loader keeps the segments in a fixed array (no heap while parsing); a static executable
// from lld or ld.bfd has two to four.
inline constexpr size_t kMaxSegments = 8;
// The granule the kernel maps segments with; alignment and overlap are judged in these pages.
inline constexpr uint64_t kPageBytes = 4096;

enum class ElfError {
    TooSmall,                 // shorter than the 64-byte ELF64 header
    BadMagic,                 // e_ident does not start 0x7F 'E' 'L' 'F'
    NotElf64,                 // EI_CLASS is not ELFCLASS64
    NotLittleEndian,          // EI_DATA is not ELFDATA2LSB
    BadVersion,               // EI_VERSION or e_version is not EV_CURRENT (1)
    NotExecutable,            // e_type is not ET_EXEC (relocatable, shared object/PIE, core)
    WrongMachine,             // e_machine is not EM_X86_64
    BadProgramHeaders,        // e_phentsize is not 56, the table runs past the file, or
                              // e_phnum is PN_XNUM (extended numbering, not supported)
    TooManySegments,          // more than kMaxSegments non-empty PT_LOAD segments
    NoLoadableSegment,        // no non-empty PT_LOAD segment
    SegmentOutsideUserSpace,  // a segment's pages are not all inside [user_base, user_limit)
    SegmentsOverlap,          // two segments share a page
    FileSizeExceedsMemSize,   // p_filesz > p_memsz
    SegmentOutsideFile,       // [p_offset, p_offset + p_filesz) runs past the file
    BadAlignment,             // p_vaddr and p_offset differ modulo the page size
    EntryOutsideCode,         // e_entry is not inside an executable segment
};

// Short words for a log line, e.g. "segment outside user space".
const char* describe(ElfError error);

struct Segment {
    uint64_t vaddr;        // p_vaddr: first byte of the segment in the user address space
    uint64_t mem_size;     // p_memsz: bytes of address space, never 0 (empty ones are skipped)
    uint64_t file_offset;  // p_offset: where the initialised bytes start in the file
    uint64_t file_size;    // p_filesz: bytes copied; the rest up to mem_size is zero (.bss)
    bool writable;         // PF_W; the segment is always readable
    bool executable;       // PF_X
};

struct Image {
    uint64_t entry;                    // e_entry: first user instruction
    Segment segments[kMaxSegments];    // the non-empty PT_LOAD segments, in file order
    size_t segment_count;              // valid entries in segments[]
    uint64_t end;                      // highest vaddr + mem_size, rounded up to kPageBytes:
                                       // the initial program break
};

// The part of the address space a user program may occupy. Segments are judged by the pages the
// kernel maps for them, so with page-aligned limits (the normal case) a segment may end exactly
// at user_limit; unaligned limits are rounded inwards in effect.
struct Limits {
    uint64_t user_base;   // lowest address a segment page may start at
    uint64_t user_limit;  // first address past the last page a segment may use
};

// Validates `file` and returns the segments to map. On success, for every segment:
// [file_offset, file_offset + file_size) lies in `file`; its page-rounded range lies in
// [user_base, user_limit) and shares no page with another segment; and `entry` lies in an
// executable segment.
kstd::Result<Image, ElfError> parse(kstd::Span<const uint8_t> file, const Limits& limits);

}  // namespace elf
