// User processes (docs/userspace.md): one kernel task each, running ring-3 code in its own
// address space, with a descriptor table, a heap break, a parent and children. Processes are
// created by spawn (a program from the boot image) or fork, end by exit or a fault/kill, and
// stay zombies until their parent's waitpid collects the status.
#pragma once

#include <stdint.h>

#include <sable/abi.h>

#include "boot/multiboot2.hpp"
#include "proc/files.hpp"
#include "proc/process_table.hpp"
#include "sched/tasks.hpp"
#include "mm/address_space.hpp"

namespace kernel::process {

// Processes alive or zombie at once: fork and spawn fail with -EAGAIN beyond the limit
// (default kDefaultProcessLimit, `sable.max_procs=<n>` up to kProcessTableSize; process_table.hpp).

enum class State : uint8_t { Alive, Zombie };

struct Process {
    int32_t pid;
    uint32_t slot;         // its index in the process table
    char name[SABLE_MAX_NAME];
    State state;
    Process* parent;       // nullptr: the kernel (kernel_wait collects it) or nobody (auto_reap)
    bool auto_reap;        // no one will wait: freed at exit instead of becoming a zombie
    bool is_init;          // adopts orphans; cannot be killed
    tasks::KernelTask* task;  // nullptr once it has exited
    mm::AddressSpace space;
    uint64_t break_base;   // end of the program image: the heap starts here
    uint64_t break_end;    // current break (brk); pages up to it rounded up are mapped
    uint64_t user_pages;   // committed user pages
    files::File* fds[SABLE_MAX_FDS];
    int32_t status;        // wait status once a zombie (abi.h SABLE_WIF*)
    uint32_t kill_reason;  // != 0: the task dies at its next return to ring 3
    uint32_t zombie_children;      // how many of its children are zombies (waitpid's condition)
    tasks::WaitQueue child_events; // a child became a zombie, or this process is being killed
    Process* free_next;    // exit: links the processes it frees after dropping the table lock
};

// Reads the boot image's program list, sets the process limit and hooks the fault handler.
void init(const boot::BootInfo& info, unsigned process_limit);

// Starts `program` with `argv` (argv[0] is the name by convention) as a child of the kernel;
// its descriptors 0, 1, 2 are the console. Returns the pid, or a negative SABLE_E* code.
int64_t spawn_from_kernel(const char* program, const char* const* argv, int argc, bool auto_reap);
// Starts the init program: like spawn_from_kernel (auto-reaped), and it adopts orphans.
int64_t spawn_init(const char* program);
// Waits for a process spawn_from_kernel started (auto_reap false) and returns its wait status.
int32_t kernel_wait(int32_t pid);

Process* current();  // nullptr in a kernel task
uint64_t live_count();  // processes alive or zombie

// The system calls that need the process machinery (syscalls.cpp does the rest).
int64_t fork(const arch::TrapFrame* frame);
int64_t spawn(uint64_t user_program, uint64_t user_argv, uint64_t user_stdio);
int64_t waitpid(int32_t pid, uint64_t user_status, uint32_t flags);
int64_t kill(int32_t pid);
int64_t brk(uint64_t new_break);
int64_t process_list(uint64_t user_out, uint64_t max);
[[noreturn]] void exit_current(int32_t status);
// Ends the current process with SABLE_WIFKILLED status `reason` and the console line
// "[pid N name] killed: <words> at <rip>" (plus details).
[[noreturn]] void kill_current(uint32_t reason, const char* words, uint64_t rip, const char* detail);
// True if the current process is being killed (blocking calls return -EINTR).
bool current_killed();
files::Interruption interruption();

}  // namespace kernel::process
