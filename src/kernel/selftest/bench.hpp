// In-kernel benchmarks (sable.bench=<suite>[,<suite>] or all): BENCH lines in the shape of
// the BENCH line of docs/testing.md, timed with the TSC. Never asserted on by tests.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/string_view.hpp"

namespace bench {

// Sorts `cycles` in place and prints the cycles line and the matching ns line.
void report(const char* name, uint64_t* cycles, size_t count, const char* note = nullptr);

// Runs the requested suites, then ends QEMU (pass verdict: a benchmark run is not a test).
[[noreturn]] void run(kstd::StringView requested);

}  // namespace bench
