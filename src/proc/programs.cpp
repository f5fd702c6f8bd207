// Boot-image programs (see programs.hpp).
#include "proc/programs.hpp"

#include "lib/console.hpp"
#include "mm/kernel_address_space.hpp"
#include "lib/format.hpp"

namespace kernel::programs {
namespace {
constexpr size_t kMaxPrograms = 32;
Program g_programs[kMaxPrograms];
size_t g_count = 0;

bool same(const char* a, const char* b) {
    while (*a && *a == *b) ++a, ++b;
    return *a == *b;
}
}  // namespace

void init(const boot::BootInfo& info) {
    for (size_t i = 0; i < info.module_count && g_count < kMaxPrograms; ++i) {
        const boot::Module module = info.module(i);
        if (module.name == "sable.sym" || module.name.size() == 0 || module.name.size() >= SABLE_MAX_NAME) continue;
        Program& program = g_programs[g_count++];
        kstd::format_to_buffer(program.name, sizeof(program.name), "%.*s", static_cast<int>(module.name.size()),
                               module.name.data());
        program.phys = module.start;
        program.size = module.end - module.start;
    }
    klog("programs: %zu in the boot image", g_count);
}

const Program* find(const char* name) {
    for (size_t i = 0; i < g_count; ++i)
        if (same(g_programs[i].name, name)) return &g_programs[i];
    return nullptr;
}

size_t count() { return g_count; }
const Program& at(size_t index) { return g_programs[index]; }
kstd::Span<const uint8_t> image(const Program& program) {
    return {phys_to_virt<const uint8_t>(program.phys), program.size};
}

}  // namespace kernel::programs
