// In-kernel self tests, selected with sable.test=<suite>[,<suite>] or sable.test=all. Each test
// prints "TEST <suite>.<name> PASS", "TEST <suite>.<name> FAIL <reason>" or, where the check
// cannot apply on this machine, "TEST <suite>.<name> SKIP <reason>"; the run ends with
// "TESTS <n> passed, <m> failed, <k> skipped" and a QEMU exit verdict (docs/testing.md).
#pragma once

#include <stdint.h>

#include "lib/span.hpp"
#include "lib/string_view.hpp"

namespace selftest {

class Context {
public:
    explicit Context(const char* suite) : m_suite(suite) {}
    // Records one result; `reason_format` explains a failure and is ignored on success.
    bool expect(bool ok, const char* name, const char* reason_format, ...)
        __attribute__((format(printf, 4, 5)));
    // Records a check that cannot apply here (never a pass).
    void skip(const char* name, const char* reason);

private:
    const char* m_suite;
};

struct Suite {
    const char* name;
    void (*run)(Context&);
    // Suites that end the run on purpose (panic, hang) are left out of "all".
    bool in_all;
};

// The suite table lives in suites.cpp.
kstd::Span<const Suite> suites();

// Boot stages run before the command line is known, so they are recorded here and reported by
// the "boot" suite. `reason` is printed only on failure.
void record_boot_stage(const char* stage, bool ok, const char* reason);
void report_boot_stages(Context& context);

// Waits until `done(context)` holds, checking it every tick; false if it still does not after
// `timeout_ms`. The timeout only bounds a broken kernel's test: a correct one never depends on it.
bool wait_for(bool (*done)(void* context), void* context, uint64_t timeout_ms);
template <typename Predicate>
bool wait_for(Predicate& predicate, uint64_t timeout_ms) {
    return wait_for([](void* p) { return (*static_cast<Predicate*>(p))(); }, &predicate, timeout_ms);
}

// Waits until exited tasks have been reaped down to `live_tasks` (tasks::live_count()); false
// on timeout. Tests take their leak baselines only after this.
bool wait_until_reaped(uint64_t live_tasks, uint64_t timeout_ms = 10000);

// True once run() started (panic uses it to end QEMU with a failure verdict).
bool test_mode();
unsigned passed_count();
unsigned failed_count();
unsigned skipped_count();

// Runs the requested suites, prints the summary and ends QEMU with the verdict.
[[noreturn]] void run(kstd::StringView requested);

}  // namespace selftest
