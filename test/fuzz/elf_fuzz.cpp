// libFuzzer target for elf::parse: any byte string must be accepted or rejected with an error,
// never read outside the span; on success the guarantees the user-program loader relies on
// (segments inside user space and inside the file, no shared pages, entry in code) must hold.
#include <stdint.h>

#include "lib/elf.hpp"

namespace {

constexpr elf::Limits kLimits{0x08000000, 0x40000000};
constexpr uint64_t kPageMask = elf::kPageBytes - 1;

void check(bool condition) {
    if (!condition) __builtin_trap();
}

// Only called after the limit checks below, so neither sum can wrap.
uint64_t page_end(const elf::Segment& s) { return (s.vaddr + s.mem_size + kPageMask) & ~kPageMask; }

void check_image(const elf::Image& image, size_t file_size) {
    check(image.segment_count >= 1 && image.segment_count <= elf::kMaxSegments);
    check(image.end % elf::kPageBytes == 0 && image.end <= kLimits.user_limit);
    bool entry_in_code = false;
    for (size_t i = 0; i < image.segment_count; ++i) {
        const elf::Segment& s = image.segments[i];
        check(s.mem_size > 0 && s.file_size <= s.mem_size);
        check(s.file_offset <= file_size && s.file_size <= file_size - s.file_offset);
        check(s.vaddr >= kLimits.user_base && s.vaddr < kLimits.user_limit);
        check(s.mem_size <= kLimits.user_limit - s.vaddr);
        check(page_end(s) <= kLimits.user_limit && page_end(s) <= image.end);
        for (size_t j = 0; j < i; ++j) {
            const elf::Segment& t = image.segments[j];
            check(page_end(s) <= (t.vaddr & ~kPageMask) || page_end(t) <= (s.vaddr & ~kPageMask));
        }
        if (s.executable && image.entry >= s.vaddr && image.entry - s.vaddr < s.mem_size)
            entry_in_code = true;
    }
    check(entry_in_code);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // libFuzzer hands each input in a heap block of exactly `size` bytes, so ASan reports a read
    // even one byte past it.
    auto result = elf::parse(kstd::Span<const uint8_t>(data, size), kLimits);
    if (result) check_image(result.value(), size);
    else (void)elf::describe(result.error());
    return 0;
}
