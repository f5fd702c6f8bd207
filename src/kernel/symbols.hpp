// Kernel symbols for backtraces, from the boot module "sable.sym" (made at build time by nm).
#pragma once

#include "boot/multiboot2.hpp"
#include "lib/symbols.hpp"

namespace kernel::symbols {

// Finds the module; without it lookups return empty names and backtraces show bare addresses.
void init(const boot::BootInfo& info);
kstd::SymbolMatch lookup(uint64_t address);

}  // namespace kernel::symbols
