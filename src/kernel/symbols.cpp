// Symbol module lookup (see symbols.hpp).
#include "kernel/symbols.hpp"

#include "lib/console.hpp"
#include "mm/kernel_address_space.hpp"

namespace kernel::symbols {
namespace {
kstd::SymbolTable g_table;
kstd::UnwindTable g_unwind;
}

void init(const boot::BootInfo& info) {
    bool symbols_found = false, unwind_found = false;
    for (size_t i = 0; i < info.module_count; ++i) {
        const boot::Module module = info.module(i);
        // Through the direct map: a panic may have to symbolize while on a process's page
        // tables, which do not have the identity map above 128 MiB.
        const kstd::Bytes bytes{phys_to_virt<const uint8_t>(module.start), module.end - module.start};
        if (module.name == "sable.sym") {
            g_table = kstd::SymbolTable(bytes);
            symbols_found = true;
            // The size, not a symbol count: counting parses the whole text table (0.6 M
            // instructions, 7 % of the boot); lookups parse it only when a backtrace needs one.
            klog("symbols: %u KiB table from %.*s", (module.end - module.start) / 1024,
                 static_cast<int>(module.name.size()), module.name.data());
        } else if (module.name == "sable.unwind") {
            g_unwind = kstd::UnwindTable(bytes);
            unwind_found = true;
            if (g_unwind.empty()) klog("symbols: sable.unwind is malformed; backtraces show the first frame only");
            else klog("symbols: unwind table of %lu rows", g_unwind.row_count());
        }
    }
    if (!symbols_found) klog("symbols: no sable.sym module; backtraces show addresses only");
    if (!unwind_found) klog("symbols: no sable.unwind module; backtraces show the first frame only");
}

kstd::SymbolMatch lookup(uint64_t address) { return g_table.lookup(address); }

const kstd::UnwindTable& unwind_table() { return g_unwind; }

}  // namespace kernel::symbols
