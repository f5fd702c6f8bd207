// Unwind-table walker (see unwind.hpp).
#include "lib/unwind.hpp"

namespace kstd {
namespace {

constexpr uint8_t kMagic[8] = {'S', 'A', 'B', 'L', 'E', 'U', 'N', 'W'};
constexpr uint64_t kHeaderSize = sizeof(kMagic) + sizeof(uint64_t);

// The module sits wherever GRUB put it: no alignment is assumed.
uint64_t load_u64(const uint8_t* bytes) {
    uint64_t value;
    __builtin_memcpy(&value, bytes, sizeof(value));
    return value;
}

// A stack word, if all of it lies in the window and it is aligned.
bool read_word(StackWindow stack, uint64_t address, uint64_t& value) {
    if (address % 8 != 0 || address < stack.low || address >= stack.high || stack.high - address < 8) return false;
    value = *reinterpret_cast<const uint64_t*>(address);
    return true;
}

}  // namespace

UnwindTable::UnwindTable(Bytes bytes) {
    if (bytes.size() < kHeaderSize || __builtin_memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return;
    const uint64_t count = load_u64(bytes.data() + sizeof(kMagic));
    if (count > (bytes.size() - kHeaderSize) / sizeof(UnwindRow) ||
        count * sizeof(UnwindRow) != bytes.size() - kHeaderSize)
        return;
    m_rows = bytes.data() + kHeaderSize;
    m_count = count;
}

UnwindRow UnwindTable::row(uint64_t index) const {
    UnwindRow value;
    __builtin_memcpy(&value, m_rows + index * sizeof(UnwindRow), sizeof(value));
    return value;
}

const UnwindRow* UnwindTable::find(uint64_t pc) const {
    // Binary search for the last row with row.pc <= pc.
    uint64_t low = 0, high = m_count;
    while (low < high) {
        const uint64_t middle = low + (high - low) / 2;
        if (row(middle).pc <= pc) low = middle + 1;
        else high = middle;
    }
    if (low == 0) return nullptr;
    return reinterpret_cast<const UnwindRow*>(m_rows + (low - 1) * sizeof(UnwindRow));
}

UnwindRow UnwindTable::row_for(uint64_t pc) const {
    UnwindRow here{pc, 0, kNoFrame, 0, 0};
    if (const UnwindRow* found = find(pc)) __builtin_memcpy(&here, found, sizeof(here));  // may be unaligned
    return here;
}

bool UnwindTable::step(UnwindFrame& frame, StackWindow stack, bool first) const {
    const UnwindRow here = row_for(first ? frame.instruction_pointer : frame.instruction_pointer - 1);
    if (here.cfa_register == kNoFrame) {
        // Stopped where the table knows nothing (a call through a bad pointer, assembly without
        // call-frame information): most likely at a call's target before any push, with the
        // return address on top of the stack. Taken only for the first frame, and only if that
        // return address leads back into code the table knows.
        uint64_t return_address;
        if (!first || !read_word(stack, frame.stack_pointer, return_address) ||
            row_for(return_address - 1).cfa_register == kNoFrame)
            return false;
        frame = {return_address, frame.stack_pointer + 8, frame.frame_pointer};
        return true;
    }
    uint64_t base;
    if (here.cfa_register == kCfaStackPointer) base = frame.stack_pointer;
    else if (here.cfa_register == kCfaFramePointer) base = frame.frame_pointer;
    else return false;
    const uint64_t cfa = base + static_cast<int64_t>(here.cfa_offset);
    uint64_t return_address;
    if (cfa <= frame.stack_pointer || !read_word(stack, cfa - 8, return_address) || return_address == 0) return false;
    uint64_t frame_pointer = frame.frame_pointer;
    if (here.frame_pointer_saved && !read_word(stack, cfa + static_cast<int64_t>(here.frame_pointer_offset), frame_pointer))
        return false;
    frame = {return_address, cfa, frame_pointer};
    return true;
}

}  // namespace kstd
