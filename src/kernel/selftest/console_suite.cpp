// sable.test=console: every line whole under concurrent writers. Two kernel tasks per online CPU
// and one `lines` user process per CPU print numbered lines (<sable/console_lines.h>) as fast as
// they can, the kernel tasks alternating klog and console::print. The kernel then checks the
// screen (only whole lines; on VGA text also the hardware cursor where the driver writes);
// tools/check-console-lines checks the serial log: every line whole, none missing.
#include <sable/console_lines.h>

#include "drivers/framebuffer_console.hpp"
#include "drivers/vga_text.hpp"
#include "lib/console.hpp"
#include "sched/cpu_local.hpp"
#include "proc/process.hpp"
#include "kernel/selftest/selftest.hpp"
#include "smp/bring_up.hpp"
#include "sched/tasks.hpp"
#include "lib/format.hpp"
#include "lib/string_view.hpp"

namespace selftest {
namespace {

using namespace kernel;

constexpr unsigned kLinesPerWriter = 200;
constexpr unsigned kMaxKernelWriters = 2 * kMaxCpus;

tasks::Completion g_writers_done;
kstd::CpuMask g_writer_cpus;  // CPUs that printed a line

void kernel_writer(uint64_t writer) {
    char filler[SABLE_LINE_FILLER + 1];
    for (unsigned seq = 0; seq < kLinesPerWriter; ++seq) {
        sable_line_filler(seq, filler);
        if (seq % 2)
            console::print("LINE k%lu %u %s end\n", writer, seq, filler);
        else
            klog("LINE k%lu %u %s end", writer, seq, filler);
        const unsigned cpu = tasks::cpu_of(tasks::current());
        g_writer_cpus.add_concurrently(cpu);
    }
    g_writers_done.signal();
}

// Parses an unsigned decimal at the front of `text`; false if there is none.
bool take_number(kstd::StringView& text, unsigned& value) {
    size_t digits = 0;
    value = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') value = value * 10 + (text[digits++] - '0');
    text = text.substr(digits);
    return digits > 0;
}

bool take(kstd::StringView& text, kstd::StringView prefix) {
    if (text.size() < prefix.size() || text.substr(0, prefix.size()) != prefix) return false;
    text = text.substr(prefix.size());
    return true;
}

bool mentions_line(kstd::StringView row) {
    for (size_t i = 0; i + 4 <= row.size(); ++i)
        if (row.substr(i, 4) == "LINE") return true;
    return false;
}

// A screen row that mentions LINE must be one whole test line, with or without klog's stamp.
bool whole_test_line(kstd::StringView row) {
    if (take(row, "[")) {
        const size_t close = row.find(']');
        if (close == kstd::StringView::npos) return false;
        row = row.substr(close + 1);
        if (!take(row, " ")) return false;
    }
    unsigned writer, seq;
    if (!take(row, "LINE ") || row.empty() || (row[0] != 'k' && row[0] != 'u')) return false;
    row = row.substr(1);
    if (!take_number(row, writer) || !take(row, " ") || !take_number(row, seq) || !take(row, " ")) return false;
    char filler[SABLE_LINE_FILLER + 1];
    sable_line_filler(seq, filler);
    return take(row, filler) && row == " end";
}

// Counts the screen rows that mention LINE and those of them that are not one whole test line;
// the caller holds the console, so nothing moves while the rows are read.
struct RowCheck {
    unsigned test_rows = 0, broken_rows = 0;
    char broken[96] = "";
};
template <typename ReadRow>
RowCheck check_rows(unsigned rows, ReadRow read_row) {
    RowCheck check;
    char row[256];
    for (unsigned r = 0; r < rows; ++r) {
        read_row(r, row, sizeof(row));
        const kstd::StringView text(row);
        if (!mentions_line(text)) continue;
        ++check.test_rows;
        if (!whole_test_line(text) && check.broken_rows++ == 0)
            kstd::format_to_buffer(check.broken, sizeof(check.broken), "%s", row);
    }
    return check;
}

void expect_rows_whole(Context& t, const char* name, const RowCheck& check) {
    t.expect(check.test_rows > 0 && check.broken_rows == 0, name, "%u of %u test rows broken, e.g. \"%s\"",
             check.broken_rows, check.test_rows, check.broken);
}

void check_screen(Context& t) {
    if (drivers::framebuffer_console::active()) {
        RowCheck check;
        {
            console::Hold nothing_moves;
            check = check_rows(drivers::framebuffer_console::rows(), drivers::framebuffer_console::row_text);
        }
        expect_rows_whole(t, "fb_rows_whole", check);
    } else {
        t.skip("fb_rows_whole", "no framebuffer console");
    }
    if (!drivers::vga_text::active()) {
        t.skip("vga_rows_whole", "no VGA text screen (UEFI boots hand over a framebuffer)");
        t.skip("vga_cursor_consistent", "no VGA text screen");
        return;
    }
    RowCheck check;
    bool cursor_ok;
    {
        console::Hold nothing_moves;  // the screen and the cursor stay still while read
        check = check_rows(drivers::vga_text::rows(), [](unsigned r, char* out, size_t capacity) {
            drivers::vga_text::row_text(r, out, capacity);
        });
        cursor_ok = drivers::vga_text::hardware_cursor_matches();
    }
    expect_rows_whole(t, "vga_rows_whole", check);
    t.expect(cursor_ok, "vga_cursor_consistent", "the CRT controller's cursor or start address is not where the driver writes and reads");
}

}  // namespace

void console_suite(Context& t) {
    const unsigned cpus = smp_boot::online_count();
    const unsigned kernel_writers = 2 * cpus <= kMaxKernelWriters ? 2 * cpus : kMaxKernelWriters;
    const unsigned user_writers = cpus;
    // tools/check-console-lines reads the counts from this line.
    console::print("console: writers kernel=%u user=%u lines=%u\n", kernel_writers, user_writers, kLinesPerWriter);
    g_writers_done.reset();
    g_writer_cpus = {};

    int64_t pids[kMaxCpus];
    unsigned users_started = 0;
    char count[16];
    kstd::format_to_buffer(count, sizeof(count), "%u", kLinesPerWriter);
    for (unsigned i = 0; i < user_writers; ++i) {
        char name[16];
        kstd::format_to_buffer(name, sizeof(name), "u%u", i);
        const char* const argv[] = {"lines", name, count};
        pids[i] = process::spawn_from_kernel("lines", argv, 3, false);
        if (pids[i] > 0) ++users_started;
    }
    unsigned kernel_started = 0;
    for (unsigned i = 0; i < kernel_writers; ++i)
        if (tasks::spawn("writer", kernel_writer, i)) ++kernel_started;

    g_writers_done.wait_until(kernel_started);  // the join: each writer signals as its last act
    unsigned users_ok = 0;
    int32_t bad_status = 0;
    for (unsigned i = 0; i < user_writers; ++i) {
        if (pids[i] <= 0) continue;
        const int32_t status = process::kernel_wait(static_cast<int32_t>(pids[i]));
        if (status == 0) ++users_ok;
        else bad_status = status;
    }

    t.expect(kernel_started == kernel_writers, "kernel_writers_started", "%u of %u spawned", kernel_started, kernel_writers);
    t.expect(users_started == user_writers && users_ok == user_writers, "user_writers_exit_0",
             "%u of %u started, %u exited 0 (last status %d)", users_started, user_writers, users_ok, bad_status);
    const unsigned writer_cpus = g_writer_cpus.load_concurrently().count();
    if (cpus > 1)
        t.expect(writer_cpus > 1, "writers_on_several_cpus", "kernel writers ran on %u CPU(s) of %u", writer_cpus, cpus);
    else
        t.skip("writers_on_several_cpus", "one CPU online");
    check_screen(t);
}

}  // namespace selftest
