// Kernel symbol lookup for backtraces. The build writes `nm -n --defined-only -C` of the kernel
// ELF into the ISO as the boot module "sable.sym" (lines "<hex address> <type> <name>"); this
// parser reads that text in place, without a heap, and tolerates anything malformed by skipping it.
#pragma once

#include <stdint.h>

#include "lib/span.hpp"
#include "lib/string_view.hpp"

namespace kstd {

struct SymbolMatch {
    StringView name;  // empty when no symbol covers the address
    uint64_t offset;  // address - symbol start
};

class SymbolTable {
public:
    SymbolTable() = default;
    explicit SymbolTable(Bytes text) : m_text(text) {}
    bool empty() const { return m_text.empty(); }

    // The code symbol (types t/T/w/W) with the greatest address <= `address`, if it lies within
    // `max_distance` bytes (beyond that the address is more likely outside any function).
    SymbolMatch lookup(uint64_t address, uint64_t max_distance = 1 << 20) const;
    // Count of code symbols (for tests and the boot log).
    size_t code_symbol_count() const;

private:
    template <typename Visitor>
    void for_each_code_symbol(Visitor&& visit) const;

    Bytes m_text;
};

}  // namespace kstd
