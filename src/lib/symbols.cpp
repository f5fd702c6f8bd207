// Symbol-file parser (see symbols.hpp).
#include "lib/symbols.hpp"

namespace kstd {
namespace {

int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_code_type(uint8_t type) { return type == 't' || type == 'T' || type == 'w' || type == 'W'; }

}  // namespace

template <typename Visitor>
void SymbolTable::for_each_code_symbol(Visitor&& visit) const {
    size_t i = 0;
    const size_t n = m_text.size();
    while (i < n) {
        size_t line_end = i;
        while (line_end < n && m_text[line_end] != '\n') ++line_end;
        // "<hex> <type> <name>": at most 16 hex digits, one space, a type letter, one space.
        size_t p = i;
        uint64_t address = 0;
        int digits = 0;
        while (p < line_end && hex_digit(m_text[p]) >= 0 && digits < 17) {
            address = (address << 4) | static_cast<uint64_t>(hex_digit(m_text[p]));
            ++p;
            ++digits;
        }
        if (digits >= 1 && digits <= 16 && p + 2 < line_end && m_text[p] == ' ' && m_text[p + 2] == ' ' &&
            is_code_type(m_text[p + 1])) {
            const size_t name_start = p + 3;
            if (name_start < line_end)
                visit(address, StringView(reinterpret_cast<const char*>(m_text.data() + name_start),
                                          line_end - name_start));
        }
        i = line_end + 1;
    }
}

SymbolMatch SymbolTable::lookup(uint64_t address, uint64_t max_distance) const {
    SymbolMatch best{{}, 0};
    uint64_t best_address = 0;
    bool found = false;
    for_each_code_symbol([&](uint64_t symbol_address, StringView name) {
        if (symbol_address <= address && (!found || symbol_address >= best_address)) {
            best_address = symbol_address;
            best.name = name;
            found = true;
        }
    });
    if (!found || address - best_address > max_distance) return {{}, 0};
    best.offset = address - best_address;
    return best;
}

size_t SymbolTable::code_symbol_count() const {
    size_t count = 0;
    for_each_code_symbol([&](uint64_t, StringView) { ++count; });
    return count;
}

}  // namespace kstd
