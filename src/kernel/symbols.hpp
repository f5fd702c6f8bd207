// Kernel symbols and the unwind table for backtraces, from the boot modules "sable.sym" (made at
// build time by nm) and "sable.unwind" (tools/make-unwind-table).
#pragma once

#include "boot/multiboot2.hpp"
#include "lib/symbols.hpp"
#include "lib/unwind.hpp"

namespace kernel::symbols {

// Finds the modules; without sable.sym lookups return empty names and backtraces show bare
// addresses, without sable.unwind they show only the first frame.
void init(const boot::BootInfo& info);
kstd::SymbolMatch lookup(uint64_t address);
const kstd::UnwindTable& unwind_table();

}  // namespace kernel::symbols
