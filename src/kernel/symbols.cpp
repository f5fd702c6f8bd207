// Symbol module lookup (see symbols.hpp).
#include "kernel/symbols.hpp"

#include "lib/console.hpp"
#include "mm/kernel_address_space.hpp"

namespace kernel::symbols {
namespace {
kstd::SymbolTable g_table;
}

void init(const boot::BootInfo& info) {
    for (size_t i = 0; i < info.module_count; ++i) {
        const boot::Module module = info.module(i);
        if (module.name != "sable.sym") continue;
        // Through the direct map: a panic may have to symbolize while on a process's page
        // tables, which do not have the identity map above 128 MiB.
        g_table = kstd::SymbolTable({phys_to_virt<const uint8_t>(module.start), module.end - module.start});
        // The size, not a symbol count: counting parses the whole text table (0.6 M
        // instructions, 7 % of the boot); lookups parse it only when a backtrace needs one.
        klog("symbols: %u KiB table from %.*s", (module.end - module.start) / 1024,
             static_cast<int>(module.name.size()), module.name.data());
        return;
    }
    klog("symbols: no sable.sym module; backtraces show addresses only");
}

kstd::SymbolMatch lookup(uint64_t address) { return g_table.lookup(address); }

}  // namespace kernel::symbols
