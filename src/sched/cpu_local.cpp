// Per-CPU data (see cpu_local.hpp): the array every CPU's block lives in, reached through the
// per-CPU base the arch contract keeps (GS on x86-64).
#include "sched/cpu_local.hpp"

#include "arch/arch.hpp"

namespace kernel {

CpuLocal g_cpu_locals[kMaxCpus];
unsigned g_cpu_count = 1;

void install_cpu_local(CpuLocal& cpu) {
    cpu.self = &cpu;
    arch::set_cpu_local_base(&cpu);
}

CpuLocal& this_cpu() { return *static_cast<CpuLocal*>(arch::cpu_local_base()); }

}  // namespace kernel
