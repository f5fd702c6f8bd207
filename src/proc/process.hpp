// User processes (docs/userspace.md): one address space, a descriptor table, a heap break, a
// parent and children, and one or more threads — each a kernel task on the process's page tables
// with its own kernel stack and its own user stack. Processes are created by spawn (a program
// from the boot image) or fork, end by exit (from any thread), the last thread's thread_exit, a
// fatal fault in any thread, or kill, and stay zombies until their parent's waitpid collects the
// status.
#pragma once

#include <stdint.h>

#include <sable/abi.h>

#include "boot/multiboot2.hpp"
#include "proc/files.hpp"
#include "proc/process_table.hpp"
#include "proc/region_list.hpp"
#include "sched/tasks.hpp"
#include "mm/address_space.hpp"
#include "mm/user_memory.hpp"
#include "lib/cpu_mask.hpp"
#include "lib/spinlock.hpp"

namespace kernel::process {

// Processes alive or zombie at once: fork and spawn fail with -EAGAIN beyond the limit
// (default kDefaultProcessLimit, `sable.max_procs=<n>` up to kProcessTableSize; process_table.hpp).

enum class State : uint8_t { Alive, Zombie };

struct Process;

struct Thread {
    int32_t tid;               // 1 for the main thread, then counting up within the process
    int32_t stack_slot;        // user_memory::thread_stack_region(slot); -1: the main stack
    bool exited;               // its task is gone; exit_value is valid until it is joined
    bool join_claimed;         // a thread_join is waiting for it (only one may)
    Process* process;
    tasks::KernelTask* task;   // nullptr once exited
    uint64_t exit_value;
    Thread* next;              // the process's threads, newest first
};

struct Process {
    int32_t pid;
    uint32_t slot;         // its index in the process table
    char name[SABLE_MAX_NAME];
    State state;
    Process* parent;       // nullptr: the kernel (kernel_wait collects it) or nobody (auto_reap)
    bool auto_reap;        // no one will wait: freed at exit instead of becoming a zombie
    bool is_init;          // adopts orphans; cannot be killed
    // Guards the thread list and slots, the address space's mappings (faults, brk, fork's copy),
    // the region list and the descriptor table. Lock order: the process table's lock, a futex
    // bucket's lock (a fault while futex_wait reads the word), then this one; under it only a
    // task's block lock, wait-queue and CPU locks (interrupt_wait) and the frame allocator's.
    IrqSpinLock lock{LockLevel::Process};
    // Serialises changes to the map of the address space (mmap, munmap, mprotect, brk, fork's
    // snapshot), which release `lock` in between for shootdowns: a range being unmapped cannot
    // be handed out again by mmap before its old pages are gone. Faults take only `lock`.
    tasks::Mutex map_lock;
    Thread main_thread;        // the first thread, part of the process (no allocation)
    Thread* threads;           // live and exited-unjoined threads, newest first
    uint32_t live_threads;     // threads whose tasks have not left (0: the process has ended)
    int32_t next_tid;
    uint64_t stack_slots[(SABLE_MAX_THREADS + 63) / 64];  // used thread stack slots
    tasks::WaitQueue thread_events;  // a thread exited (thread_join waits here)
    kstd::CpuMask space_loaded_on;   // CPUs with the space loaded (tasks::KernelTask)
    mm::AddressSpace space;
    RegionList regions;        // mmap's regions (storage from the heap at the first mmap)
    Region* region_storage;
    uint64_t break_base;   // end of the program image: the heap starts here
    uint64_t break_end;    // current break (brk); pages below it (rounded up) commit on first touch
    uint64_t user_pages;   // committed user pages
    files::File* fds[SABLE_MAX_FDS];
    int32_t status;        // wait status once a zombie (abi.h SABLE_WIF*)
    uint32_t kill_reason;  // != 0: a kill request; the process ends at a thread's next return to ring 3
    uint32_t ending;       // != 0: the process is ending with end_status; every thread leaves
    int32_t end_status;
    uint32_t zombie_children;      // how many of its children are zombies (waitpid's condition)
    tasks::WaitQueue child_events; // a child became a zombie, or this process is being killed
    Process* free_next;    // exit: links the processes it frees after dropping the table lock
};

// Reads the boot image's program list, sets the process limit and hooks the fault handler.
void init(const boot::BootInfo& info, unsigned process_limit);

// Starts `program` with `argv` (argv[0] is the name by convention) as a child of the kernel;
// its descriptors 0, 1, 2 are the console; its threads run on the CPUs in `affinity`. Returns
// the pid, or a negative SABLE_E* code.
int64_t spawn_from_kernel(const char* program, const char* const* argv, int argc, bool auto_reap,
                          const kstd::CpuMask& affinity = kstd::CpuMask::all());
// Starts the init program: like spawn_from_kernel, and it adopts orphans; the kernel collects
// it with kernel_wait (kernel_main starts it once more, then powers off).
int64_t spawn_init(const char* program);
// Waits for a process spawn_from_kernel started (auto_reap false) and returns its wait status.
int32_t kernel_wait(int32_t pid);

Process* current();  // nullptr in a kernel task
Thread* current_thread();
uint64_t live_count();  // processes alive or zombie

// The system calls that need the process machinery (syscalls.cpp does the rest).
int64_t fork(const arch::TrapFrame* frame);
int64_t spawn(uint64_t user_program, uint64_t user_argv, uint64_t user_stdio);
int64_t waitpid(int32_t pid, uint64_t user_status, uint32_t flags);
int64_t kill(int32_t pid);
int64_t brk(uint64_t new_break);
int64_t process_list(uint64_t user_out, uint64_t max);
// Threads (threads.cpp) and futexes (futex.cpp).
int64_t thread_create(uint64_t user_entry, uint64_t argument);
[[noreturn]] void thread_exit(uint64_t value);
int64_t thread_join(int32_t tid, uint64_t user_value);
int64_t thread_list(uint64_t user_out, uint64_t max);
int64_t futex_wait(uint64_t user_address, uint32_t expected, uint64_t timeout_ms);
int64_t futex_wake(uint64_t user_address, uint32_t count);
// Ends the whole process with `status` (exit from any thread): every thread leaves.
[[noreturn]] void exit_current(int32_t status);
// Ends the current process with SABLE_WIFKILLED status `reason` and the console line
// "[pid N name] killed: <words> at <rip>" (plus details).
[[noreturn]] void kill_current(uint32_t reason, const char* words, uint64_t rip, const char* detail);
// True if the current process is being killed or is ending (blocking calls return -EINTR).
bool current_killed();

// --- shared by process.cpp, threads.cpp and futex.cpp -----------------------------------------
// Makes `process` end with `status` unless it is ending already; then every other thread's wait
// is cut short so it leaves at its next return to ring 3. True if this call decided the status.
bool begin_ending(Process& process, int32_t status);
// The calling thread leaves its process: its task ends, and the last thread out tears the
// process down (descriptors, address space) and makes it a zombie with end_status.
[[noreturn]] void leave_thread();
// Unmaps and frees the user pages of `process` in [start, end), dropping the TLB entries on
// every CPU that runs the space before a frame is freed. Returns how many pages there were.
// Interrupts on, the process lock not held.
uint64_t unmap_range(Process& process, uint64_t start, uint64_t end);
// Starts a task for `thread` of `process` (the user frame built by build_frame(context)).
// With copy_callers_extended_state (fork) it starts with the caller's x87/SSE/AVX registers;
// otherwise with clean ones (a new program, a new thread).
int64_t start_thread_task(Process& process, Thread& thread, uint64_t (*build_frame)(uint64_t, void*), void* context,
                          const kstd::CpuMask& affinity, bool copy_callers_extended_state = false);
// The descriptor `fd` of the calling process, kept alive until put_file (other threads may
// close it meanwhile); file is nullptr if not open. A lone thread takes no reference (no one
// else can close it); `counted` remembers which, since threads may come or go in between.
struct FileRef {
    files::File* file;
    bool counted;
};
FileRef get_shared_file(Process& self, uint64_t fd);  // more than one thread: under the lock
// get_file's first half, inline: true if the process has a lone thread, which is the only one
// that can change its table (only it can create another thread, and it is busy in this call), so
// `file` (nullptr if `fd` is not open) needs no lock and no reference. False: use get_file.
inline bool lone_thread_file(const Process& self, uint64_t fd, files::File*& file) {
    if (__atomic_load_n(&self.live_threads, __ATOMIC_ACQUIRE) != 1) return false;
    file = fd < SABLE_MAX_FDS ? self.fds[fd] : nullptr;
    return true;
}
inline FileRef get_file(Process& self, uint64_t fd) {
    files::File* file;
    if (lone_thread_file(self, fd, file)) return {file, false};
    return fd < SABLE_MAX_FDS ? get_shared_file(self, fd) : FileRef{nullptr, false};
}
void put_file(const FileRef& ref);
// Memory calls and faults (memory.cpp).
int64_t mmap(uint64_t address, uint64_t length, uint32_t prot, uint32_t flags);
int64_t munmap(uint64_t address, uint64_t length);
int64_t mprotect(uint64_t address, uint64_t length, uint32_t prot);
enum class MemoryFault { Resolved, NotMine, OutOfMemory, Denied };
// A page fault of `process` that its memory map may resolve: a first touch inside an mmap
// region, below the break or in a stack region (above its guard zone), or a write to a
// copy-on-write page. NotMine: none of these (the kill logic decides). `access` holds
// arch::kPageFault* bits. Called with interrupts off (an exception handler); turns them on for
// a shootdown when the faulting code had them on. Ring-3 faults come through
// user_page_fault_hook (memory.cpp), which inlines it; copy_user's through on_fault.
MemoryFault resolve_memory_fault(Process& process, arch::TrapFrame* frame, uint64_t address, uint64_t access);
// A page fault resolve_memory_fault left as `memory`, raised in ring 3: the process dies with a
// reason (process.cpp). Returns false only where there is nothing to kill.
bool on_unresolved_page_fault(Process& process, arch::TrapFrame* frame, uint64_t address, uint64_t access,
                              MemoryFault memory);
// fork's copy of `parent`'s memory into `child`: copy-on-write sharing of every page, the
// region list, and a shootdown of the parent's write-protected entries. False: out of memory.
bool fork_memory(Process& parent, Process& child);
// The stack region holding `address`, or the region whose guard zone holds it (`in_guard`):
// the main stack's guard page, or the unmapped part of a thread stack slot below its region.
// Only slots in use count. Under the process lock.
bool find_stack_region(const Process& process, uint64_t address, user_memory::StackRegion& region, bool& in_guard);
void free_regions(Process& process);
// A task's state as the information calls report it (enum sable_process_state).
uint32_t state_of(const tasks::KernelTask& task);
// The process table lock held, calls visit(process) for every process (thread_list).
void for_each_process_locked(bool (*visit)(Process& process, void* context), void* context);
// What cuts `process`'s blocking file calls short: its kill request and its ending flag.
files::Interruption interruption(const Process& process);

}  // namespace kernel::process
