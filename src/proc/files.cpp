// Console and pipe files (see files.hpp).
#include "proc/files.hpp"

#include <sable/abi.h>

#include "lib/console.hpp"
#include "drivers/console_input.hpp"
#include "mm/kernel_heap.hpp"
#include "lib/spinlock.hpp"
#include "sched/tasks.hpp"
#include "mm/user_memory.hpp"

namespace kernel::files {

enum class Kind : uint8_t { Console, PipeRead, PipeWrite };

struct Pipe;

struct File {
    uint32_t references;
    Kind kind;
    Pipe* pipe;
};

namespace {

constexpr uint64_t kPipeCapacity = 16 * 1024;
// Bytes moved between user memory and a pipe per step: the user copy runs without the pipe's
// lock (it may fault and commit a stack page), through this buffer on the kernel stack.
constexpr uint64_t kBounceBytes = 512;

File g_console{1, Kind::Console, nullptr};
uint64_t g_pipes_open = 0;
IrqSpinLock g_reference_lock;

}  // namespace

struct Pipe {
    IrqSpinLock lock;
    uint64_t read_total = 0;   // bytes ever read; written_total - read_total = bytes buffered
    uint64_t written_total = 0;
    uint32_t readers = 0, writers = 0;  // open File ends
    uint32_t ends = 2;                  // File objects not yet fully released: the last frees
    tasks::WaitQueue readable, writable;
    uint8_t data[kPipeCapacity];

    uint64_t buffered() const {
        return __atomic_load_n(&written_total, __ATOMIC_ACQUIRE) - __atomic_load_n(&read_total, __ATOMIC_ACQUIRE);
    }
};

namespace {

struct WaitCondition {
    Pipe* pipe;
    const Interruption* interruption;
};

bool can_read(void* context) {
    auto* condition = static_cast<WaitCondition*>(context);
    return condition->pipe->buffered() > 0 || __atomic_load_n(&condition->pipe->writers, __ATOMIC_ACQUIRE) == 0 ||
           condition->interruption->interrupted(condition->interruption->context);
}

bool can_write(void* context) {
    auto* condition = static_cast<WaitCondition*>(context);
    return condition->pipe->buffered() < kPipeCapacity ||
           __atomic_load_n(&condition->pipe->readers, __ATOMIC_ACQUIRE) == 0 ||
           condition->interruption->interrupted(condition->interruption->context);
}

int64_t read_pipe(Pipe& pipe, uint64_t user_buffer, uint64_t size, const Interruption& interruption) {
    if (size == 0) return 0;
    if (!user_memory::range_ok(user_buffer, size)) return -SABLE_EFAULT;
    uint8_t bounce[kBounceBytes];
    uint64_t done = 0;
    for (;;) {
        uint64_t taken = 0;
        bool writers_left;
        {
            IrqLockGuard guard(pipe.lock);
            uint64_t want = size - done;
            if (want > kBounceBytes) want = kBounceBytes;
            const uint64_t available = pipe.written_total - pipe.read_total;
            taken = available < want ? available : want;
            for (uint64_t i = 0; i < taken; ++i) bounce[i] = pipe.data[(pipe.read_total + i) % kPipeCapacity];
            __atomic_store_n(&pipe.read_total, pipe.read_total + taken, __ATOMIC_RELEASE);
            writers_left = pipe.writers > 0;
        }
        if (taken > 0) {
            tasks::wake_all(pipe.writable);
            // A fault here loses this piece (it has left the pipe); what arrived before counts.
            if (!user_memory::copy_to(user_buffer + done, bounce, taken))
                return done ? static_cast<int64_t>(done) : -SABLE_EFAULT;
            done += taken;
            if (done == size || pipe.buffered() == 0) return static_cast<int64_t>(done);
            continue;  // more is buffered: keep going without blocking
        }
        if (done > 0) return static_cast<int64_t>(done);
        if (!writers_left) return 0;  // end of file: the last writer closed
        if (interruption.interrupted(interruption.context)) return -SABLE_EINTR;
        WaitCondition condition{&pipe, &interruption};
        tasks::block_unless(pipe.readable, can_read, &condition);
    }
}

int64_t write_pipe(Pipe& pipe, uint64_t user_buffer, uint64_t size, const Interruption& interruption) {
    if (!user_memory::range_ok(user_buffer, size)) return -SABLE_EFAULT;
    uint8_t bounce[kBounceBytes];
    uint64_t done = 0;
    while (done < size) {
        uint64_t chunk = size - done;
        if (chunk > kBounceBytes) chunk = kBounceBytes;
        if (!user_memory::copy_from(bounce, user_buffer + done, chunk)) return done ? static_cast<int64_t>(done) : -SABLE_EFAULT;
        uint64_t put = 0;
        while (put < chunk) {
            bool no_readers;
            uint64_t now = 0;
            {
                IrqLockGuard guard(pipe.lock);
                no_readers = pipe.readers == 0;
                if (!no_readers) {
                    const uint64_t space = kPipeCapacity - (pipe.written_total - pipe.read_total);
                    now = chunk - put < space ? chunk - put : space;
                    for (uint64_t i = 0; i < now; ++i) pipe.data[(pipe.written_total + i) % kPipeCapacity] = bounce[put + i];
                    __atomic_store_n(&pipe.written_total, pipe.written_total + now, __ATOMIC_RELEASE);
                }
            }
            if (no_readers) return done + put ? static_cast<int64_t>(done + put) : -SABLE_EPIPE;
            if (now > 0) {
                put += now;
                tasks::wake_all(pipe.readable);
                continue;
            }
            if (interruption.interrupted(interruption.context))
                return done + put ? static_cast<int64_t>(done + put) : -SABLE_EINTR;
            WaitCondition condition{&pipe, &interruption};
            tasks::block_unless(pipe.writable, can_write, &condition);
        }
        done += chunk;
    }
    return static_cast<int64_t>(done);
}

// --- the console: a line discipline over the serial/keyboard input ring ----------------------
// One line is edited at a time (echo, backspace); read() hands it out, possibly over several
// calls. Readers take turns through a sleeping lock, so two processes never split one line.
constexpr uint64_t kLineCapacity = 256;
char g_line[kLineCapacity];
uint64_t g_line_length = 0, g_line_offset = 0;
bool g_line_end_of_file = false;
uint32_t g_reader_busy = 0;
tasks::WaitQueue g_reader_turn;

bool reader_free(void* context) {
    auto* interruption = static_cast<const Interruption*>(context);
    return __atomic_load_n(&g_reader_busy, __ATOMIC_ACQUIRE) == 0 || interruption->interrupted(interruption->context);
}

// Readers waiting for console input; the input IRQ wakes them all (each onto its own CPU).
tasks::WaitQueue g_input_waiters;

bool input_or_interrupted(void* context) {
    auto* interruption = static_cast<const Interruption*>(context);
    return drivers::console_input::available() || interruption->interrupted(interruption->context);
}

// Reads keys until a full line (or a Ctrl-D at its start); false if interrupted first.
bool edit_line(const Interruption& interruption) {
    g_line_length = g_line_offset = 0;
    g_line_end_of_file = false;
    for (;;) {
        char c;
        if (!drivers::console_input::read(c)) {
            if (interruption.interrupted(interruption.context)) return false;
            // Re-checked under the queue's lock: input that lands in between does not block us.
            tasks::block_unless(g_input_waiters, input_or_interrupted, const_cast<Interruption*>(&interruption));
            continue;
        }
        if (c == '\r') c = '\n';
        if (c == 0x04 && g_line_length == 0) {
            g_line_end_of_file = true;
            return true;
        }
        if (c == 0x7F || c == '\b') {
            if (g_line_length > 0) {
                --g_line_length;
                console::print("\b \b");
            }
            continue;
        }
        if (c == '\n') {
            g_line[g_line_length++] = '\n';
            console::print("\n");
            return true;
        }
        if (static_cast<unsigned char>(c) < 0x20 || g_line_length + 1 >= kLineCapacity) continue;
        g_line[g_line_length++] = c;
        console::print("%c", c);
    }
}

int64_t read_console(uint64_t user_buffer, uint64_t size, const Interruption& interruption) {
    if (size == 0) return 0;
    if (!user_memory::range_ok(user_buffer, size)) return -SABLE_EFAULT;
    for (;;) {
        uint32_t expected = 0;
        if (__atomic_compare_exchange_n(&g_reader_busy, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) break;
        if (interruption.interrupted(interruption.context)) return -SABLE_EINTR;
        tasks::block_unless(g_reader_turn, reader_free, const_cast<Interruption*>(&interruption));
    }
    int64_t result;
    if (g_line_offset == g_line_length && !g_line_end_of_file && !edit_line(interruption)) {
        result = -SABLE_EINTR;
    } else if (g_line_end_of_file) {
        g_line_end_of_file = false;
        result = 0;
    } else {
        uint64_t count = g_line_length - g_line_offset;
        if (count > size) count = size;
        if (user_memory::copy_to(user_buffer, g_line + g_line_offset, count)) {
            g_line_offset += count;
            result = static_cast<int64_t>(count);
        } else {
            result = -SABLE_EFAULT;
        }
    }
    __atomic_store_n(&g_reader_busy, 0, __ATOMIC_RELEASE);
    tasks::wake_one(g_reader_turn);
    return result;
}

int64_t write_console(uint64_t user_buffer, uint64_t size) {
    if (!user_memory::range_ok(user_buffer, size)) return -SABLE_EFAULT;
    char bounce[kBounceBytes];
    uint64_t done = 0;
    while (done < size) {
        uint64_t chunk = size - done < kBounceBytes ? size - done : kBounceBytes;
        if (!user_memory::copy_from(bounce, user_buffer + done, chunk)) return done ? static_cast<int64_t>(done) : -SABLE_EFAULT;
        console::write(bounce, chunk);
        done += chunk;
    }
    return static_cast<int64_t>(done);
}

}  // namespace

void init() {
    drivers::console_input::set_hook([] { tasks::wake_all(g_input_waiters); });
}

size_t read_kernel_line(char* buffer, size_t capacity) {
    size_t length = 0;
    for (;;) {
        char c;
        if (!drivers::console_input::read(c)) {
            tasks::block_unless(g_input_waiters, [](void*) { return drivers::console_input::available(); }, nullptr);
            continue;
        }
        if (c == '\n') break;
        if (length + 1 < capacity) buffer[length++] = c;
    }
    if (capacity) buffer[length] = '\0';
    return length;
}

File* console() { return retain(&g_console); }

bool create_pipe(File*& read_end, File*& write_end) {
    auto* pipe = new (kstd::nothrow) Pipe;
    read_end = new (kstd::nothrow) File{1, Kind::PipeRead, pipe};
    write_end = new (kstd::nothrow) File{1, Kind::PipeWrite, pipe};
    if (!pipe || !read_end || !write_end) {
        delete pipe;
        delete read_end;
        delete write_end;
        return false;
    }
    pipe->readers = pipe->writers = 1;
    __atomic_fetch_add(&g_pipes_open, 1, __ATOMIC_RELAXED);
    return true;
}

File* retain(File* file) {
    IrqLockGuard guard(g_reference_lock);
    ++file->references;
    return file;
}

void release(File* file) {
    {
        IrqLockGuard guard(g_reference_lock);
        if (--file->references > 0 || file == &g_console) return;
    }
    Pipe* pipe = file->pipe;
    {
        IrqLockGuard guard(pipe->lock);
        if (file->kind == Kind::PipeRead) __atomic_store_n(&pipe->readers, pipe->readers - 1, __ATOMIC_RELEASE);
        else __atomic_store_n(&pipe->writers, pipe->writers - 1, __ATOMIC_RELEASE);
    }
    delete file;
    // Whoever waits on the other end re-checks: end of file for readers, EPIPE for writers.
    // The pipe outlives these wake-ups even if the other end is released meanwhile: only the
    // last of the two releases gets past `ends`.
    tasks::wake_all(pipe->readable);
    tasks::wake_all(pipe->writable);
    if (__atomic_sub_fetch(&pipe->ends, 1, __ATOMIC_ACQ_REL) == 0) {
        delete pipe;
        __atomic_fetch_sub(&g_pipes_open, 1, __ATOMIC_RELAXED);
    }
}

int64_t read(File* file, uint64_t user_buffer, uint64_t size, const Interruption& interruption) {
    switch (file->kind) {
    case Kind::Console: return read_console(user_buffer, size, interruption);
    case Kind::PipeRead: return read_pipe(*file->pipe, user_buffer, size, interruption);
    case Kind::PipeWrite: return -SABLE_EBADF;
    }
    return -SABLE_EBADF;
}

int64_t write(File* file, uint64_t user_buffer, uint64_t size, const Interruption& interruption) {
    switch (file->kind) {
    case Kind::Console: return write_console(user_buffer, size);
    case Kind::PipeWrite: return write_pipe(*file->pipe, user_buffer, size, interruption);
    case Kind::PipeRead: return -SABLE_EBADF;
    }
    return -SABLE_EBADF;
}

uint64_t pipes_open() { return __atomic_load_n(&g_pipes_open, __ATOMIC_RELAXED); }

}  // namespace kernel::files
