// Backtraces without frame pointers. The kernel is built without them (one register more for
// the compiler, three instructions less per call: docs/performance.md); instead the build turns
// the compiler's call-frame information into a table (tools/make-unwind-table, the boot module
// "sable.unwind") that says, for every kernel instruction, where the caller's frame begins:
//
//   stack (grows down)                      row for the instruction at `pc`:
//   ┌──────────────────┐ ◄─ CFA = SP + n      CFA = SP + n (or FP + n where a function
//   │ return address   │    (the caller's      keeps a frame pointer); the return address
//   ├──────────────────┤     SP before its     is at CFA - 8; the caller's FP, if this
//   │ saved FP (maybe) │     call)             function saved it, at CFA + fp_offset
//   │ locals, spills   │
//   └──────────────────┘ ◄─ SP
//
// One step: CFA from the row, the return address from CFA - 8, the caller's SP = CFA (and FP
// reloaded if saved). This parser reads the table in place, without a heap.
#pragma once

#include <stdint.h>

#include "lib/span.hpp"

namespace kstd {

// The table's rows as the module stores them (little-endian, sorted by pc).
struct UnwindRow {
    uint64_t pc;          // this row applies from here to the next row's pc
    int32_t cfa_offset;
    uint8_t cfa_register;  // UnwindTable::kNoFrame, kCfaStackPointer, kCfaFramePointer
    uint8_t frame_pointer_saved;
    int16_t frame_pointer_offset;  // from the CFA (negative)
};
static_assert(sizeof(UnwindRow) == 16, "the module's row layout (tools/make-unwind-table)");

// Where a walk is: the instruction pointer, stack pointer and frame pointer of one frame.
struct UnwindFrame {
    uint64_t instruction_pointer, stack_pointer, frame_pointer;
};

// The stack a walk may read: [low, high). Reads outside it end the walk.
struct StackWindow {
    uint64_t low, high;
};

class UnwindTable {
public:
    static constexpr uint8_t kNoFrame = 0;          // no information here (assembly, a gap)
    static constexpr uint8_t kCfaStackPointer = 1;
    static constexpr uint8_t kCfaFramePointer = 2;

    UnwindTable() = default;
    // `bytes`: the module. A wrong magic or a size that does not match the count gives an empty
    // table (walks then show only the first frame).
    explicit UnwindTable(Bytes bytes);
    bool empty() const { return m_count == 0; }
    uint64_t row_count() const { return m_count; }

    // The row for `pc` (the last with row.pc <= pc), or nullptr if it is below the first.
    const UnwindRow* find(uint64_t pc) const;

    // Calls visit(return_address) for up to `max_frames` callers of `frame`, whose instruction
    // pointer is where it stopped (an interrupted instruction, or a captured one), not a return
    // address. Stops where the table has no frame, where a read would leave `stack`, where the
    // stack would not move up, and at a null return address. A first frame the table knows
    // nothing about (a jump to a bad address) is taken for a call's target, if the word on top
    // of the stack returns into code the table knows.
    template <typename Visit>
    void walk(UnwindFrame frame, StackWindow stack, unsigned max_frames, Visit visit) const {
        for (unsigned i = 0; i < max_frames; ++i) {
            if (!step(frame, stack, i == 0)) return;
            visit(frame.instruction_pointer);
        }
    }

    // One frame up: false (and `frame` unchanged) if the walk cannot go on. `first`: the
    // instruction pointer is where execution stopped; later ones are return addresses, which
    // point after their call, so the call's own row (pc - 1) is used.
    bool step(UnwindFrame& frame, StackWindow stack, bool first) const;

private:
    UnwindRow row(uint64_t index) const;
    UnwindRow row_for(uint64_t pc) const;  // find()'s row, copied; a kNoFrame row if none

    const uint8_t* m_rows = nullptr;
    uint64_t m_count = 0;
};

}  // namespace kstd
