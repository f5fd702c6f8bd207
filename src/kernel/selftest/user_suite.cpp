// Self tests of user mode (sable.test=user): each case runs `usertest <case>` (src/user/usertest)
// as a child of the kernel and checks how it ended — exit code 0 for the cases that check
// themselves, the right kill reason for the ones that must die. The kernel must keep serving
// through all of it, and every frame must come back at the end.
#include <sable/abi.h>

#include "lib/console.hpp"
#include "sched/cpu_local.hpp"
#include "proc/files.hpp"
#include "mm/kernel_heap.hpp"
#include "mm/kernel_stacks.hpp"
#include "mm/physical_memory.hpp"
#include "proc/process.hpp"
#include "proc/programs.hpp"
#include "kernel/selftest/selftest.hpp"
#include "sched/tasks.hpp"
#include "lib/format.hpp"

namespace selftest {
namespace {

using namespace kernel;

int32_t run_case(const char* name, const char* extra1 = nullptr, const char* extra2 = nullptr) {
    const char* argv[4] = {"usertest", name, extra1, extra2};
    const int argc = extra2 ? 4 : extra1 ? 3 : 2;
    const int64_t pid = process::spawn_from_kernel("usertest", argv, argc, false);
    if (pid < 0) return static_cast<int32_t>(pid);
    return process::kernel_wait(static_cast<int32_t>(pid));
}

void expect_passes(Context& t, const char* name) {
    const int32_t status = run_case(name);
    t.expect(status == 0, name, "usertest %s ended with status %d%s", name, status,
             status < 0 ? " (could not start)" : status >= 256 ? " (killed)" : "");
}

void expect_killed(Context& t, const char* name, uint32_t reason) {
    const int32_t status = run_case(name);
    t.expect(status >= 256 && SABLE_WKILLREASON(status) == static_cast<int32_t>(reason), name,
             "usertest %s ended with status %d, expected killed with reason %u", name, status, reason);
}

uint64_t live_heap_objects() {
    const mm::HeapStats stats = heap_stats();
    uint64_t objects = stats.large_allocations;
    for (uint64_t in_use : stats.objects_in_use) objects += in_use;
    return objects;
}


}  // namespace

void user_suite(Context& t) {
    if (!programs::find("usertest")) {
        t.expect(false, "programs_present", "no usertest program in the boot image");
        return;
    }
    // The fork bomb and the thread limit first, as a warm-up too: the kernel keeps what grows once and is reused
    // (task-list chunks, kernel-stack page tables, heap slabs), so the leak check's baseline is
    // taken after the biggest burst and everything after it must give every frame back.
    const uint64_t live_tasks = tasks::live_count();
    expect_passes(t, "forkbomb");
    // The most threads one process may have (SABLE_MAX_THREADS): a new peak of tasks too.
    expect_passes(t, "thread_limit");
    // Exited tasks' kernel stacks return when the reaper gets to them.
    t.expect(wait_until_reaped(live_tasks), "forkbomb_reaped", "%lu tasks left", (tasks::live_count() - live_tasks));
    uint64_t before[mm::kPageStateCount];
    for (unsigned s = 0; s < mm::kPageStateCount; ++s) before[s] = physical_memory::count(static_cast<mm::PageState>(s));
    const uint64_t heap_objects_before = live_heap_objects();
    const uint64_t stack_tables_before = kernel_stack_page_tables();

    {
        const int32_t status = run_case("args", "alpha", "beta");
        t.expect(status == 0, "argv", "usertest args alpha beta ended with status %d", status);
    }
    expect_passes(t, "fork");
    expect_passes(t, "syscall_at_top");
    expect_passes(t, "wait");
    expect_passes(t, "pipe");
    expect_passes(t, "brk");
    expect_passes(t, "brk_far");
    expect_passes(t, "stack_grow");
    expect_killed(t, "stack_overflow", SABLE_KILL_STACK_OVERFLOW);
    expect_passes(t, "efault");
    expect_passes(t, "spawn");
    expect_passes(t, "affinity");
    expect_passes(t, "sleep");
    expect_killed(t, "fault_de", SABLE_KILL_DIVIDE_ERROR);
    expect_killed(t, "fault_ud", SABLE_KILL_INVALID_OPCODE);
    expect_killed(t, "fault_gp", SABLE_KILL_GENERAL_PROTECTION);
    expect_killed(t, "fault_int", SABLE_KILL_GENERAL_PROTECTION);
    expect_killed(t, "fault_pf", SABLE_KILL_PAGE_FAULT);
    expect_killed(t, "fault_kernel", SABLE_KILL_PAGE_FAULT);
    expect_killed(t, "fault_noncanonical", SABLE_KILL_GENERAL_PROTECTION);
    expect_killed(t, "fetch_guard", SABLE_KILL_PAGE_FAULT);
    {
        // usertest exits 3 on a CPU without UMIP: the instructions then work in ring 3.
        constexpr int32_t kNoUmip = 3;
        const int32_t status = run_case("umip");
        if (status == kNoUmip)
            t.skip("umip", "this CPU has no UMIP");
        else
            t.expect(status == 0, "umip", "usertest umip ended with status %d", status);
    }
    expect_passes(t, "threads");
    expect_killed(t, "thread_fault", SABLE_KILL_PAGE_FAULT);
    expect_killed(t, "thread_stack_overflow", SABLE_KILL_STACK_OVERFLOW);
    expect_passes(t, "thread_exit");
    expect_passes(t, "thread_fork");
    expect_passes(t, "futex");
    expect_passes(t, "condvar");
    expect_passes(t, "mmap");
    expect_passes(t, "mprotect_huge");
    expect_passes(t, "mmap_threads");
    expect_passes(t, "shootdown");
    expect_passes(t, "cow");
    expect_passes(t, "cow_shared");
    expect_passes(t, "cow_threads");
    // Copying a third of free memory three times takes long under emulation on a big machine:
    // only where memory is small (the 32 MiB and 64 MiB configurations).
    if (physical_memory::count(mm::PageState::Free) <= 16384)
        expect_passes(t, "cow_oom");
    else
        t.skip("cow_oom", "more than 64 MiB free: copying a third of it three times takes too long");
    expect_passes(t, "fpu_switch");
    expect_passes(t, "fpu_migrate");
    expect_passes(t, "fpu_threads");
    expect_passes(t, "fpu_clean");
    expect_passes(t, "fpu_fork");
    expect_passes(t, "printf_float");
    {
        // usertest exits 3 when the CPU flags an unmasked SIMD exception but raises no #XM (QEMU's
        // TCG): nothing for the kernel to handle there.
        constexpr int32_t kNoSimdException = 3;
        const int32_t status = run_case("fault_xm");
        if (status == kNoSimdException)
            t.skip("fault_xm", "this CPU raises no #XM (QEMU TCG)");
        else
            t.expect(status >= 256 && SABLE_WKILLREASON(status) == SABLE_KILL_FLOATING_POINT, "fault_xm",
                     "usertest fault_xm ended with status %d, expected killed with reason %u", status,
                     SABLE_KILL_FLOATING_POINT);
    }
    expect_killed(t, "fault_mf", SABLE_KILL_FLOATING_POINT);
    {
        const int32_t status = run_case("forkbomb");
        t.expect(status == 0, "forkbomb_again", "a second fork bomb ended with status %d", status);
    }

    // A user infinite loop is preempted: while it spins (on every CPU, one copy each), other
    // programs still run to completion; then kill ends it.
    {
        const char* argv[] = {"usertest", "loop"};
        int64_t spinners[8];
        unsigned count = 0;
        for (unsigned i = 0; i < 8 && i < kernel::g_cpu_count; ++i)
            spinners[count++] = process::spawn_from_kernel("usertest", argv, 2, false);
        // The spinners are on the CPUs (placement and stealing spread them) before the check.
        auto spinning = [count] {
            unsigned busy = 0;
            for (unsigned cpu = 0; cpu < kernel::g_cpu_count; ++cpu) busy += !tasks::idle_now(cpu);
            return busy >= count;
        };
        const bool all_spinning = wait_for(spinning, 10000);
        const int32_t status = run_case("fork");
        t.expect(all_spinning && status == 0, "loop_preempted",
                 "usertest fork beside %u spinning programs (%s) ended with %d", count,
                 all_spinning ? "all running" : "not all running", status);
        bool all_killed = true;
        for (unsigned i = 0; i < count; ++i) {
            if (spinners[i] < 0 || process::kill(static_cast<int32_t>(spinners[i])) != 0) all_killed = false;
            const int32_t spin_status = spinners[i] < 0 ? -1 : process::kernel_wait(static_cast<int32_t>(spinners[i]));
            if (spin_status != 256 + SABLE_KILL_SIGNAL) all_killed = false;
        }
        t.expect(all_killed, "kill_spinning", "a spinning program did not end with a kill status");
    }

    t.expect(wait_until_reaped(live_tasks), "all_reaped", "%lu tasks left", (tasks::live_count() - live_tasks));
    // Every frame back: each state's count as before, except that the heap may keep or return
    // empty slabs (free + heap is what must match) — and no kernel object may stay allocated.
    // Kernel-stack page tables are kept at their high-water mark (mm/kernel_stacks.hpp): one
    // made by a new peak of tasks during the cases is expected, bounded, and said.
    const uint64_t stack_tables_kept = kernel_stack_page_tables() - stack_tables_before;
    if (stack_tables_kept)
        klog("selftest: %lu kernel-stack page table%s kept at a new high-water mark (at most %lu in all)",
             stack_tables_kept, stack_tables_kept == 1 ? "" : "s", kKernelStackPageTablesMax);
    before[static_cast<unsigned>(mm::PageState::PageTable)] += stack_tables_kept;
    before[static_cast<unsigned>(mm::PageState::Free)] -= stack_tables_kept;
    const uint64_t heap_objects_after = live_heap_objects();
    bool same = heap_objects_after == heap_objects_before;
    char changes[160] = "";
    size_t used = kstd::format_to_buffer(changes, sizeof(changes), " heap objects %lu->%lu", heap_objects_before,
                                         heap_objects_after);
    const unsigned free_state = static_cast<unsigned>(mm::PageState::Free), heap_state = static_cast<unsigned>(mm::PageState::Heap);
    for (unsigned s = 0; s < mm::kPageStateCount; ++s) {
        uint64_t after = physical_memory::count(static_cast<mm::PageState>(s));
        uint64_t baseline = before[s];
        if (s == heap_state) continue;
        if (s == free_state) {
            after += physical_memory::count(mm::PageState::Heap);
            baseline += before[heap_state];
        }
        if (after == baseline) continue;
        same = false;
        used += kstd::format_to_buffer(changes + used, sizeof(changes) - used, " %s %lu->%lu",
                                       mm::page_state_name(static_cast<mm::PageState>(s)), baseline, after);
        if (used >= sizeof(changes)) break;
    }
    t.expect(same && process::live_count() == 0 && files::pipes_open() == 0, "no_leak",
             "frames changed:%s; processes left %lu, pipes left %lu", changes, process::live_count(),
             files::pipes_open());
}

}  // namespace selftest
