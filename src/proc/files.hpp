// Open files of processes: the console and pipes, shared by reference count between the
// descriptor tables that hold them (fork copies a table, dup2 and spawn's stdio share entries).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace kernel::files {

struct File;

// Every call that blocks also returns -SABLE_EINTR once either word is non-zero: the calling
// process's kill request and its ending flag (process::interruption). Kernel callers pass none
// (never interrupted). Two words read in place rather than a callback: the test sits in every
// blocking pipe read's wait condition, so it is a few loads there, not a call through a pointer.
struct Interruption {
    const uint32_t* kill_reason = nullptr;
    const uint32_t* ending = nullptr;

    bool interrupted() const {
        return kill_reason &&
               (__atomic_load_n(kill_reason, __ATOMIC_ACQUIRE) | __atomic_load_n(ending, __ATOMIC_ACQUIRE)) != 0;
    }
};

// Hooks the console's readers to the input interrupts. Before the first read.
void init();
// A line of console input for kernel code (the serial-input self test): blocks until a newline,
// which is not stored; no echo. Returns the line's length.
size_t read_kernel_line(char* buffer, size_t capacity);

File* console();  // a shared reference to the console (descriptors 0, 1, 2 of the first process)
// A new pipe: both ends, one reference each. False if memory ran out.
bool create_pipe(File*& read_end, File*& write_end);
File* retain(File* file);
void release(File* file);  // drops one reference; the last one closes the end

// Bytes moved (0: end of file), or a negative SABLE_E* code. Buffers are user addresses. The
// interruption comes by value, in two registers: a caller's temporary in memory would cost the
// system-call handler a stack canary.
int64_t read(File* file, uint64_t user_buffer, uint64_t size, Interruption interruption);
int64_t write(File* file, uint64_t user_buffer, uint64_t size, Interruption interruption);

uint64_t pipes_open();  // live pipe objects (leak checks)

}  // namespace kernel::files
