// The framebuffer console's character grid: control characters, wrapping, the scrolling ring and
// the dirty rows the drawing code relies on.
#include "drivers/text_grid.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using drivers::TextGrid;

struct Grid {
    Grid(unsigned columns, unsigned rows) : cells(columns * rows) {
        EXPECT_TRUE(grid.reset({cells.data(), cells.size()}, columns, rows));
    }
    void write(const std::string& text) { grid.write(text.data(), text.size()); }
    // Screen row `row`, trailing blanks dropped.
    std::string row(unsigned row) const {
        std::string text(grid.slot_cells(grid.slot_of_row(row)), grid.columns());
        return text.substr(0, text.find_last_not_of(' ') + 1);
    }
    std::vector<char> cells;
    TextGrid grid;
};

TEST(TextGrid, StartsBlankWithTheCursorTopLeftAndEveryRowDirty) {
    Grid g(10, 3);
    EXPECT_EQ(g.row(0), "");
    EXPECT_EQ(g.grid.cursor_column(), 0u);
    EXPECT_EQ(g.grid.cursor_row(), 0u);
    for (unsigned slot = 0; slot < 3; ++slot) EXPECT_TRUE(g.grid.slot_dirty(slot));
}

TEST(TextGrid, RejectsMoreCellsThanItWasGiven) {
    std::vector<char> cells(29);
    TextGrid grid;
    EXPECT_FALSE(grid.reset({cells.data(), cells.size()}, 10, 3));
    EXPECT_EQ(grid.rows(), 0u);
    grid.write("x", 1);  // an unusable grid ignores writes
}

TEST(TextGrid, RejectsMoreRowsThanItTracks) {
    std::vector<char> cells(TextGrid::kMaxRows + 1);
    TextGrid grid;
    EXPECT_FALSE(grid.reset({cells.data(), cells.size()}, 1, TextGrid::kMaxRows + 1));
}

TEST(TextGrid, NewLineMovesToTheStartOfTheNextRow) {
    Grid g(10, 3);
    g.write("ab\ncd");
    EXPECT_EQ(g.row(0), "ab");
    EXPECT_EQ(g.row(1), "cd");
    EXPECT_EQ(g.grid.cursor_row(), 1u);
    EXPECT_EQ(g.grid.cursor_column(), 2u);
}

TEST(TextGrid, WrapsAfterTheLastColumn) {
    // [abcd]
    // [e   ]
    Grid g(4, 3);
    g.write("abcde");
    EXPECT_EQ(g.row(0), "abcd");
    EXPECT_EQ(g.row(1), "e");
}

TEST(TextGrid, ScrollingMovesRowsUpAndBlanksTheBottom) {
    // rows before: [1][2][3]; after "\n4": [2][3][4]
    Grid g(4, 3);
    g.write("1\n2\n3");
    const unsigned first_slot = g.grid.slot_of_row(0);
    g.grid.clear_changes();
    g.write("\n4");
    EXPECT_TRUE(g.grid.scrolled());
    EXPECT_EQ(g.row(0), "2");
    EXPECT_EQ(g.row(1), "3");
    EXPECT_EQ(g.row(2), "4");
    EXPECT_EQ(g.grid.cursor_row(), 2u);
    // The old top slot was reused, not copied: it is now the bottom row.
    EXPECT_EQ(g.grid.slot_of_row(2), first_slot);
}

TEST(TextGrid, ScrolledAwayTextDoesNotReappear) {
    Grid g(4, 2);
    g.write("long line\nx\ny\n");
    EXPECT_EQ(g.row(0), "y");
    EXPECT_EQ(g.row(1), "");
}

TEST(TextGrid, BackspaceMovesLeftAndTheLineEditorsEraseLeavesABlank) {
    Grid g(10, 2);
    g.write("hellx\b \bo");
    EXPECT_EQ(g.row(0), "hello");
    EXPECT_EQ(g.grid.cursor_column(), 5u);
}

TEST(TextGrid, BackspaceStopsAtTheFirstColumn) {
    Grid g(10, 2);
    g.write("\b\bz");
    EXPECT_EQ(g.row(0), "z");
}

TEST(TextGrid, CarriageReturnGoesBackToColumnZero) {
    Grid g(10, 2);
    g.write("abc\rX");
    EXPECT_EQ(g.row(0), "Xbc");
}

TEST(TextGrid, TabFillsToTheNextMultipleOfEight) {
    Grid g(20, 2);
    g.write("ab\tc");
    EXPECT_EQ(g.row(0), "ab      c");
    EXPECT_EQ(g.grid.cursor_column(), 9u);
}

TEST(TextGrid, OnlyTheRowsWrittenOrLeftByTheCursorAreDirty) {
    // rows: [a][b][ ][ ]; the cursor moves from row 1 to row 2
    Grid g(10, 4);
    g.write("a\nb");
    g.grid.clear_changes();
    g.write("\n");
    EXPECT_FALSE(g.grid.slot_dirty(g.grid.slot_of_row(0)));
    EXPECT_TRUE(g.grid.slot_dirty(g.grid.slot_of_row(1)));
    EXPECT_TRUE(g.grid.slot_dirty(g.grid.slot_of_row(2)));
    EXPECT_FALSE(g.grid.slot_dirty(g.grid.slot_of_row(3)));
    EXPECT_FALSE(g.grid.scrolled());
}

}  // namespace
