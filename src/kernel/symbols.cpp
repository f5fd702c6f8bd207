// Symbol module lookup (see symbols.hpp).
#include "symbols.hpp"

#include "kernel/console.hpp"

namespace kernel::symbols {
namespace {
kstd::SymbolTable g_table;
}

void init(const boot::BootInfo& info) {
    for (size_t i = 0; i < info.module_count; ++i) {
        const boot::Module module = info.module(i);
        if (module.name != "sable.sym") continue;
        // Modules are identity-mapped RAM the frame allocator keeps as firmware-owned.
        g_table = kstd::SymbolTable({reinterpret_cast<const uint8_t*>(uintptr_t{module.start}), module.end - module.start});
        klog("symbols: %zu code symbols from %.*s", g_table.code_symbol_count(),
             static_cast<int>(module.name.size()), module.name.data());
        return;
    }
    klog("symbols: no sable.sym module; backtraces show addresses only");
}

kstd::SymbolMatch lookup(uint64_t address) { return g_table.lookup(address); }

}  // namespace kernel::symbols
