// In-kernel self tests, selected with sable.test=<suite>[,<suite>] or sable.test=all. Each test
// prints "TEST <suite>.<name> PASS" or "TEST <suite>.<name> FAIL <reason>"; the run ends with
// "TESTS <n> passed, <m> failed" and a QEMU exit verdict (shapes fixed by log-format.md).
#pragma once

#include "lib/span.hpp"
#include "lib/string_view.hpp"

namespace selftest {

class Context {
public:
    explicit Context(const char* suite) : m_suite(suite) {}
    // Records one result; `reason_format` explains a failure and is ignored on success.
    bool expect(bool ok, const char* name, const char* reason_format, ...)
        __attribute__((format(printf, 4, 5)));

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

// True once run() started (panic uses it to end QEMU with a failure verdict).
bool test_mode();
unsigned passed_count();
unsigned failed_count();

// Runs the requested suites, prints the summary and ends QEMU with the verdict.
[[noreturn]] void run(kstd::StringView requested);

}  // namespace selftest
