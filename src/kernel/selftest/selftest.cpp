// Self-test runner and result reporting (see selftest.hpp).
#include "kernel/selftest/selftest.hpp"

#include <stdarg.h>

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "sched/tasks.hpp"
#include "lib/cmdline.hpp"
#include "lib/format.hpp"

namespace selftest {
namespace {

bool g_test_mode = false;
unsigned g_passed = 0;
unsigned g_failed = 0;
unsigned g_skipped = 0;

struct BootStage {
    const char* name;
    bool ok;
    const char* reason;
};
constexpr size_t kMaxBootStages = 32;
BootStage g_boot_stages[kMaxBootStages];
size_t g_boot_stage_count = 0;

void print_result(const char* suite, const char* name, bool ok, const char* reason) {
    if (ok) {
        ++g_passed;
        console::print("TEST %s.%s PASS\n", suite, name);
    } else {
        ++g_failed;
        console::print("TEST %s.%s FAIL %s\n", suite, name, reason);
    }
}

}  // namespace

bool Context::expect(bool ok, const char* name, const char* reason_format, ...) {
    char reason[160] = "";
    if (!ok) {
        va_list args;
        va_start(args, reason_format);
        kstd::vformat_to_buffer(reason, sizeof(reason), reason_format, args);
        va_end(args);
    }
    print_result(m_suite, name, ok, reason);
    return ok;
}

void Context::skip(const char* name, const char* reason) {
    ++g_skipped;
    console::print("TEST %s.%s SKIP %s\n", m_suite, name, reason);
}

bool wait_for(bool (*done)(void* context), void* context, uint64_t timeout_ms) {
    const uint64_t deadline = clock::ns_since_boot() + timeout_ms * 1000000;
    while (!done(context)) {
        if (clock::ns_since_boot() > deadline) return false;
        kernel::tasks::sleep_ms(1);
    }
    return true;
}

bool wait_until_reaped(uint64_t live_tasks, uint64_t timeout_ms) {
    auto reaped = [live_tasks] { return kernel::tasks::live_count() <= live_tasks; };
    return wait_for(reaped, timeout_ms);
}

void record_boot_stage(const char* stage, bool ok, const char* reason) {
    if (g_boot_stage_count < kMaxBootStages) g_boot_stages[g_boot_stage_count++] = {stage, ok, reason};
    if (!ok) klog("boot stage %s failed: %s", stage, reason);
}

void report_boot_stages(Context& context) {
    for (size_t i = 0; i < g_boot_stage_count; ++i) {
        const BootStage& stage = g_boot_stages[i];
        context.expect(stage.ok, stage.name, "%s", stage.reason);
    }
}

bool test_mode() { return g_test_mode; }
unsigned passed_count() { return g_passed; }
unsigned failed_count() { return g_failed; }
unsigned skipped_count() { return g_skipped; }

void run(kstd::StringView requested) {
    g_test_mode = true;
    const bool everything = requested == "all";

    // Unknown names are failures, so a typo in a test's command line cannot pass silently.
    size_t start = 0;
    while (start < requested.size() && !everything) {
        size_t comma = requested.find(',', start);
        size_t end = comma == kstd::StringView::npos ? requested.size() : comma;
        kstd::StringView name = requested.substr(start, end - start);
        bool known = false;
        for (const Suite& suite : suites()) known |= name == suite.name;
        if (!known && !name.empty()) {
            char label[64];
            kstd::format_to_buffer(label, sizeof(label), "%.*s", static_cast<int>(name.size()), name.data());
            print_result("selftest", label, false, "no such suite");
        }
        start = end + 1;
    }

    // Every suite starts from the same quiet system: the tasks an earlier suite started have
    // exited and been reaped (leak checks count every frame and stack from their own start).
    const uint64_t boot_tasks = kernel::tasks::live_count();
    for (const Suite& suite : suites()) {
        if (everything ? !suite.in_all : !kstd::list_contains(requested, suite.name)) continue;
        Context context(suite.name);
        suite.run(context);
        if (!wait_until_reaped(boot_tasks))
            context.expect(false, "tasks_reaped_after_suite", "%lu of its tasks still live",
                           (kernel::tasks::live_count() - boot_tasks));
    }

    if (g_passed + g_failed == 0) print_result("selftest", "ran_something", false, "no tests ran");
    console::print("TESTS %u passed, %u failed, %u skipped\n", g_passed, g_failed, g_skipped);
    arch::exit_emulator(g_failed == 0);
    console::print("(no QEMU exit device; halting)\n");
    arch::halt_forever();
}

}  // namespace selftest
