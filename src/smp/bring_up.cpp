// AP bring-up (see bring_up.hpp).
#include "smp/bring_up.hpp"

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "lib/panic.hpp"
#include "mm/kernel_address_space.hpp"
#include "sched/cpu_local.hpp"
#include "sched/tasks.hpp"
#include "smp/discovery.hpp"

extern "C" [[noreturn]] void ap_main(uint64_t apic_id);

namespace kernel::smp_boot {
namespace {

uint64_t g_stack_by_apic_id[256];
kstd::CpuMask g_started;  // by CpuLocal index, each AP adds itself
unsigned g_online = 1;
uint64_t g_bringup_ns = 0;

void (*g_ap_init)() = nullptr;  // the kernel's per-AP set-up (its timer), run before it joins

CpuLocal* cpu_for_apic_id(uint32_t apic_id) {
    for (unsigned i = 0; i < g_cpu_count; ++i)
        if (g_cpu_locals[i].apic_id == apic_id) return &g_cpu_locals[i];
    return nullptr;
}

bool started(unsigned index) {
    return g_started.contains_concurrently(index);
}

constexpr uint64_t kSecondStartupAfterNs = 200'000;
constexpr uint64_t kAnswerDeadlineNs = 1'000'000'000;

// Until every AP has started or the clock passes `deadline_ns`, halted rather than spinning: each
// AP wakes this CPU once it is up (ap_main), and the check runs with interrupts off so that
// `sti; hlt` cannot miss a wake-up that arrives after it. A deadline that passes with no AP
// answering is noticed at the next tick. Spinning here kept an emulator that runs its CPUs in
// turn (QEMU's --icount) from switching to the APs for a whole time slice: 10 ms per AP start.
void wait_for_aps(uint64_t deadline_ns) {
    for (;;) {
        const bool were_enabled = arch::save_and_disable_interrupts();
        unsigned up = 1;
        for (unsigned i = 1; i < g_cpu_count; ++i) up += started(i);
        if (up == g_cpu_count || clock::ns_since_boot() > deadline_ns) {
            arch::restore_interrupts(were_enabled);
            return;
        }
        arch::wait_for_interrupt();  // an AP's wake-up, or a tick
        arch::restore_interrupts(were_enabled);
    }
}

bool allocate_stacks(CpuLocal& cpu) {
    auto stack = allocate_kernel_stack(4);
    if (!stack) return false;
    cpu.boot_stack = stack.value();
    for (uint64_t& top : cpu.interrupt_stack_tops) {
        auto ist = allocate_kernel_stack(4);
        if (!ist) return false;
        top = ist.value().top;
    }
    return true;
}

}  // namespace

void init_boot_cpu() {
    CpuLocal& bsp = g_cpu_locals[0];
    bsp.index = 0;
    bsp.apic_id = arch::this_cpu_apic_id();
    bsp.online = true;
    install_cpu_local(bsp);
    arch::init_user_mode(0);
    g_started.add_concurrently(0);
}

void start_application_processors(void (*ap_init)(), uint32_t silent_apic_id) {
    g_ap_init = ap_init;
    const smp::PlatformTopology& topology = platform::topology();
    // Fault injection for the test of an AP that never answers: it gets no INIT and no SIPI.
    auto reachable = [&](unsigned i) { return g_cpu_locals[i].apic_id != silent_apic_id; };
    const uint32_t bsp_apic_id = g_cpu_locals[0].apic_id;
    unsigned found = 0;
    for (unsigned i = 0; i < topology.cpu_count; ++i) {
        const smp::CpuEntry& entry = topology.cpus[i];
        if (!entry.enabled) continue;
        ++found;
        if (entry.apic_id == bsp_apic_id) continue;
        if (entry.apic_id > 255 || g_cpu_count == kMaxCpus) {
            klog("smp: CPU with APIC id %u left out (needs x2APIC start-up)", entry.apic_id);
            continue;
        }
        CpuLocal& cpu = g_cpu_locals[g_cpu_count];
        cpu.index = g_cpu_count;
        cpu.apic_id = entry.apic_id;
        if (!allocate_stacks(cpu)) {
            klog("smp: no memory for CPU %u's stacks; left out", cpu.index);
            continue;
        }
        g_stack_by_apic_id[cpu.apic_id] = cpu.boot_stack.top;
        ++g_cpu_count;
    }

    const char* source = !platform::from_firmware() ? "none"
                         : topology.source == smp::TableSource::Madt ? "madt" : "mp";
    if (g_cpu_count > 1) {
        // The trampoline runs from its identity-mapped page after paging is on: make that page
        // executable for the bring-up only.
        if (!arch::install_ap_trampoline(kernel_address_space().root().address(), g_stack_by_apic_id, ap_main))
            panic("smp: the AP trampoline cannot start CPUs on this kernel PML4 (above 4 GiB?)");
        kernel_address_space().protect(arch::ap_trampoline_phys(), mm::kPageSize, mm::kPageWritable | mm::kPageExecutable);

        // [SDM vol3 §8.4.4.1] INIT, 10 ms, SIPI, 200 µs, SIPI again to any that did not answer.
        // All APs at once: one 10 ms wait in total, not one per CPU. Where the CPUs take INIT at
        // once (arch::init_needs_settle_delay) each AP gets its SIPI right behind its INIT, as
        // Linux does for them: an AP starts while the later ones are still being sent to, and a
        // virtual CPU wakes once for both (all INITs first woke each twice: under TCG with 32
        // vCPUs on 2 host cores, the first AP reached ap_main 5-9 ms after the loop began, and
        // 1 ms after it interleaved; smp.md).
        const uint64_t start = clock::ns_since_boot();
        if (arch::init_needs_settle_delay()) {
            for (unsigned i = 1; i < g_cpu_count; ++i)
                if (reachable(i)) arch::send_init(g_cpu_locals[i].apic_id);
            tasks::sleep_ms(10);
            for (unsigned i = 1; i < g_cpu_count; ++i)
                if (reachable(i)) arch::send_startup(g_cpu_locals[i].apic_id);
        } else {
            for (unsigned i = 1; i < g_cpu_count; ++i) {
                if (!reachable(i)) continue;
                arch::send_init(g_cpu_locals[i].apic_id);
                arch::send_startup(g_cpu_locals[i].apic_id);
            }
        }
        wait_for_aps(clock::ns_since_boot() + kSecondStartupAfterNs);
        for (unsigned i = 1; i < g_cpu_count; ++i)
            if (!started(i) && reachable(i)) arch::send_startup(g_cpu_locals[i].apic_id);
        // 1 s at most: TCG starts CPUs slowly on a loaded host.
        wait_for_aps(clock::ns_since_boot() + kAnswerDeadlineNs);
        g_bringup_ns = clock::ns_since_boot() - start;
        kernel_address_space().protect(arch::ap_trampoline_phys(), mm::kPageSize, mm::kPageWritable);
        for (unsigned i = 1; i < g_cpu_count; ++i) {
            if (started(i)) ++g_online;
            else klog("smp: CPU %u (APIC id %u) did not answer INIT-SIPI-SIPI; running without it", i,
                      g_cpu_locals[i].apic_id);
        }
    }
    console::print("smp: %u/%u CPUs online via %s in %lu ms\n", g_online, found ? found : 1, source,
                   g_bringup_ns / 1000000);
    for (unsigned i = 0; i < g_cpu_count; ++i)
        if (started(i)) klog("smp:   cpu %u online, APIC id %u", i, g_cpu_locals[i].apic_id);
}

unsigned online_count() { return g_online; }
uint64_t bringup_ns() { return g_bringup_ns; }

// First C++ on an AP, on its own guarded stack, interrupts off.
extern "C" [[noreturn]] void ap_main(uint64_t apic_id) {
    arch::init_memory_types();  // the same PAT as the boot CPU's before any console output
    CpuLocal* cpu = cpu_for_apic_id(static_cast<uint32_t>(apic_id));
    if (!cpu) arch::halt_forever();
    install_cpu_local(*cpu);
    arch::init_cpu_interrupts(cpu->index, cpu->interrupt_stack_tops);
    arch::init_user_mode(cpu->index);
    if (g_ap_init) g_ap_init();
    tasks::init_application_processor();
    cpu->online = true;
    g_started.add_concurrently(cpu->index);
    arch::send_ipi(g_cpu_locals[0].apic_id, arch::kVectorWakeIpi);  // the boot CPU waits halted
    // This context is now the CPU's idle task: the seed's park. Ticks, wake-up IPIs and work
    // stealing bring tasks here.
    for (;;) arch::wait_for_interrupt();
}

}  // namespace kernel::smp_boot
