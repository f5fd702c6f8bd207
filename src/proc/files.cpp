// Console and pipe files (see files.hpp).
#include "proc/files.hpp"

#include <sable/abi.h>

#include "arch/arch.hpp"
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
// Bytes moved between user memory and the console per step, through a buffer on the kernel stack.
constexpr uint64_t kBounceBytes = 512;

File g_console{1, Kind::Console, nullptr};
uint64_t g_pipes_open = 0;
IrqSpinLock g_reference_lock;

// Takes turns among the tasks on one side of a pipe (its readers, or its writers), so that side
// has one task at a time and the ring is single-producer single-consumer. A sleeping lock, not a
// spinlock: the holder copies straight between user memory and the ring, and a user copy may
// fault and block (committing a stack page). Never held while waiting for data or room, so a
// waiter for a turn only ever waits for a copy to finish; it can still be interrupted.
struct Turn {
    uint32_t busy = 0;
    tasks::WaitQueue waiters;
};

}  // namespace

struct Pipe {
    IrqSpinLock lock;          // readers/writers changes only; the data path is lock-free
    // The ring holds bytes [read_total, written_total) at offsets modulo kPipeCapacity. Only the
    // reader holding the read turn advances read_total, only the writer holding the write turn
    // advances written_total, each with a release store after its copy: the other side's
    // acquire load of that total makes the bytes (or the room) behind it visible.
    uint64_t read_total = 0;
    uint64_t written_total = 0;
    uint32_t readers = 0, writers = 0;  // open File ends
    uint32_t ends = 2;                  // File objects not yet fully released: the last frees
    tasks::WaitQueue readable, writable;
    Turn read_turn, write_turn;
    uint8_t data[kPipeCapacity];

    uint64_t buffered() const {
        return __atomic_load_n(&written_total, __ATOMIC_ACQUIRE) - __atomic_load_n(&read_total, __ATOMIC_ACQUIRE);
    }
};

namespace {

// The interruption is tested only in these conditions, under the queue's lock (block_until),
// and not before each block too: `interrupted` records that it ended the wait, so the caller
// returns -SABLE_EINTR at once. Only on the paths that wait (wait_to_read, write_pipe_in_parts,
// both out of line); the Interruption travels by value until here, so the common path of a small
// read or write has no object in memory (no stack canary, a small frame). False if interrupted.
bool wait_until_readable(Pipe& pipe, Interruption interruption) {
    bool interrupted = false;
    tasks::block_until(pipe.readable, [&] {
        return pipe.buffered() > 0 || __atomic_load_n(&pipe.writers, __ATOMIC_ACQUIRE) == 0 ||
               (interrupted = interruption.interrupted());
    });
    return !interrupted;
}

bool wait_until_writable(Pipe& pipe, Interruption interruption) {
    bool interrupted = false;
    tasks::block_until(pipe.writable, [&] {
        return pipe.buffered() < kPipeCapacity || __atomic_load_n(&pipe.readers, __ATOMIC_ACQUIRE) == 0 ||
               (interrupted = interruption.interrupted());
    });
    return !interrupted;
}

struct TurnCondition {
    Turn* turn;
    const Interruption* interruption;
};

bool turn_free(void* context) {
    auto* condition = static_cast<TurnCondition*>(context);
    return __atomic_load_n(&condition->turn->busy, __ATOMIC_ACQUIRE) == 0 ||
           condition->interruption->interrupted();
}

bool try_take_turn(Turn& turn) {
    uint32_t expected = 0;
    return __atomic_compare_exchange_n(&turn.busy, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

// The other side's holder is copying: wait for its give_turn. False if interrupted first.
[[gnu::noinline]] bool wait_for_turn(Turn& turn, Interruption interruption) {
    for (;;) {
        if (try_take_turn(turn)) return true;
        if (interruption.interrupted()) return false;
        TurnCondition condition{&turn, &interruption};
        tasks::block_unless(turn.waiters, turn_free, &condition);
    }
}

bool take_turn(Turn& turn, Interruption interruption) {
    return try_take_turn(turn) || wait_for_turn(turn, interruption);
}

// Gives the turn back and wakes the other end's waiters if `moved` (bytes for readers, room for
// writers). One fence serves both wake-ups: each needs a full barrier between its store (the
// turn, the total published before it) and its load of a queue's blocker count.
void give_turn_and_wake(Turn& turn, tasks::WaitQueue& other_end, bool moved) {
    __atomic_store_n(&turn.busy, 0, __ATOMIC_RELEASE);
    tasks::fence_before_wake();
    // All turn waiters: one that was woken but is being killed would not pass a single wake-up on.
    tasks::wake_all_after_fence(turn.waiters);
    if (moved) tasks::wake_all_after_fence(other_end);
}

enum class Direction { ToUser, FromUser };

bool copy_piece(Pipe& pipe, uint64_t at, uint64_t user, uint64_t size, Direction direction) {
    // The whole user range was checked once (range_ok): each piece lies inside it.
    return direction == Direction::ToUser ? arch::copy_user(reinterpret_cast<void*>(user), pipe.data + at, size)
                                          : arch::copy_user(pipe.data + at, reinterpret_cast<const void*>(user), size);
}

constexpr uint64_t kUserPage = mm::kPageSize;

// Copies `size` bytes between user memory at `user` and the ring from offset `ring_offset` on
// (wrapping), straight through the arch's fault-safe user copy, in pieces that end at the ring's
// end and at user page boundaries: a fault then costs only its own page's piece, and what was
// copied before it is known. Returns the bytes copied before the first fault (`size`: none).
[[gnu::noinline]] uint64_t copy_ring_pieces(Pipe& pipe, uint64_t ring_offset, uint64_t user, uint64_t size,
                                            Direction direction) {
    uint64_t done = 0;
    while (done < size) {
        const uint64_t at = (ring_offset + done) % kPipeCapacity;
        uint64_t piece = size - done;
        if (piece > kPipeCapacity - at) piece = kPipeCapacity - at;
        const uint64_t to_page_end = kUserPage - ((user + done) & (kUserPage - 1));
        if (piece > to_page_end) piece = to_page_end;
        if (!copy_piece(pipe, at, user + done, piece, direction)) break;
        done += piece;
    }
    return done;
}

// The same; a transfer that is one piece already (most small ones) is copied here in one call.
uint64_t copy_ring(Pipe& pipe, uint64_t ring_offset, uint64_t user, uint64_t size, Direction direction) {
    const uint64_t at = ring_offset % kPipeCapacity;
    if (at + size <= kPipeCapacity && (user & (kUserPage - 1)) + size <= kUserPage)
        return copy_piece(pipe, at, user, size, direction) ? size : 0;
    return copy_ring_pieces(pipe, ring_offset, user, size, direction);
}

// try_read's and wait_to_read's "try again" (no byte count or error code is this).
constexpr int64_t kAgain = INT64_MIN;

// One attempt to read, without waiting: the bytes copied, -SABLE_EFAULT, or kAgain if the ring
// was empty or the other reader's turn. Inline: with the checks done, most small reads are this.
// Both callers come here when there should be bytes (read() saw some, or a wait ended), so the
// ring is not checked before the turn is taken, only after.
[[gnu::always_inline]] inline int64_t try_read(Pipe& pipe, uint64_t user_buffer, uint64_t size) {
    if (!try_take_turn(pipe.read_turn)) return kAgain;
    const uint64_t start = pipe.read_total;  // only turn holders change it
    const uint64_t available = __atomic_load_n(&pipe.written_total, __ATOMIC_ACQUIRE) - start;
    if (available == 0) {  // empty after all (another reader was first, or end of file)
        give_turn_and_wake(pipe.read_turn, pipe.writable, false);
        return kAgain;
    }
    const uint64_t want = available < size ? available : size;
    // A fault leaves the bytes it did not deliver in the pipe; what arrived before counts.
    const uint64_t copied = copy_ring(pipe, start, user_buffer, want, Direction::ToUser);
    __atomic_store_n(&pipe.read_total, start + copied, __ATOMIC_RELEASE);
    give_turn_and_wake(pipe.read_turn, pipe.writable, copied > 0);
    return copied ? static_cast<int64_t>(copied) : -SABLE_EFAULT;
}

// After a try_read that found nothing to take: end of file (0), -SABLE_EINTR, or kAgain once
// there may be something (woken, or the turn came free).
int64_t wait_to_read(Pipe& pipe, Interruption interruption) {
    // The writer count first: once it is 0, every byte written before the close is visible to
    // the load of written_total below, so an empty ring then really is end of file. No turn is
    // needed to see that: bytes leave the ring (read_total) only once they are copied.
    const bool writers_left = __atomic_load_n(&pipe.writers, __ATOMIC_ACQUIRE) > 0;
    if (pipe.buffered() == 0) {
        if (!writers_left) return 0;
        // Blocks without the turn (a reader that is ahead of this check only makes the ring
        // emptier; the condition is checked again under the queue's lock).
        return wait_until_readable(pipe, interruption) ? kAgain : -SABLE_EINTR;
    }
    // Bytes, but another reader holds the turn: wait until it is free, then try again.
    if (!wait_for_turn(pipe.read_turn, interruption)) return -SABLE_EINTR;
    give_turn_and_wake(pipe.read_turn, pipe.writable, false);
    return kAgain;
}

// A reader that found nothing: waits, and once woken copies at once, without checking again for
// what it waited for. Out of line, so that read() itself, when the bytes are there, is one try.
[[gnu::noinline]] int64_t read_pipe_waiting(Pipe& pipe, uint64_t user_buffer, uint64_t size,
                                            Interruption interruption) {
    for (;;) {
        int64_t result = wait_to_read(pipe, interruption);
        if (result != kAgain) return result;
        result = try_read(pipe, user_buffer, size);
        if (result != kAgain) return result;
    }
}

// A reader that finds bytes: one try (which fails only if another reader came first).
[[gnu::noinline]] int64_t read_pipe_now(Pipe& pipe, uint64_t user_buffer, uint64_t size, Interruption interruption) {
    const int64_t result = try_read(pipe, user_buffer, size);
    return result != kAgain ? result : read_pipe_waiting(pipe, user_buffer, size, interruption);
}

// Both ways on are tail calls: read() then needs no frame of its own (the compiler would build
// one at its entry for any path that calls and comes back).
int64_t read_pipe(Pipe& pipe, uint64_t user_buffer, uint64_t size, Interruption interruption) {
    if (size == 0) return 0;
    if (!user_memory::range_ok(user_buffer, size)) return -SABLE_EFAULT;
    if (pipe.buffered() == 0) return read_pipe_waiting(pipe, user_buffer, size, interruption);
    return read_pipe_now(pipe, user_buffer, size, interruption);
}

// Any write: in pieces as room frees up, waiting for room or for the turn.
[[gnu::noinline]] int64_t write_pipe_in_parts(Pipe& pipe, uint64_t user_buffer, uint64_t size,
                                              Interruption interruption) {
    uint64_t done = 0;
    while (done < size) {
        if (!take_turn(pipe.write_turn, interruption)) return done ? static_cast<int64_t>(done) : -SABLE_EINTR;
        if (__atomic_load_n(&pipe.readers, __ATOMIC_ACQUIRE) == 0) {
            give_turn_and_wake(pipe.write_turn, pipe.readable, false);
            return done ? static_cast<int64_t>(done) : -SABLE_EPIPE;
        }
        const uint64_t start = pipe.written_total;  // only turn holders change it
        const uint64_t room = kPipeCapacity - (start - __atomic_load_n(&pipe.read_total, __ATOMIC_ACQUIRE));
        if (room == 0) {
            give_turn_and_wake(pipe.write_turn, pipe.readable, false);
            if (!wait_until_writable(pipe, interruption)) return done ? static_cast<int64_t>(done) : -SABLE_EINTR;
            continue;
        }
        const uint64_t want = size - done < room ? size - done : room;
        const uint64_t copied = copy_ring(pipe, start, user_buffer + done, want, Direction::FromUser);
        __atomic_store_n(&pipe.written_total, start + copied, __ATOMIC_RELEASE);
        give_turn_and_wake(pipe.write_turn, pipe.readable, copied > 0);
        done += copied;
        if (copied < want) return done ? static_cast<int64_t>(done) : -SABLE_EFAULT;
    }
    return static_cast<int64_t>(done);
}

int64_t write_pipe(Pipe& pipe, uint64_t user_buffer, uint64_t size, Interruption interruption) {
    if (!user_memory::range_ok(user_buffer, size)) return -SABLE_EFAULT;
    if (size == 0) return 0;
    // The common write: the turn is free, a reader is there, and it all fits in one piece (one
    // user page, no wrap of the ring). Anything else, write_pipe_in_parts.
    if (try_take_turn(pipe.write_turn)) {
        const uint64_t start = pipe.written_total;
        const uint64_t at = start % kPipeCapacity;
        const uint64_t room = kPipeCapacity - (start - __atomic_load_n(&pipe.read_total, __ATOMIC_ACQUIRE));
        if (__atomic_load_n(&pipe.readers, __ATOMIC_ACQUIRE) > 0 && room >= size && at + size <= kPipeCapacity &&
            (user_buffer & (kUserPage - 1)) + size <= kUserPage) {
            // One piece: a fault delivers nothing, as write_pipe_in_parts would report it.
            const bool copied = copy_piece(pipe, at, user_buffer, size, Direction::FromUser);
            if (copied) __atomic_store_n(&pipe.written_total, start + size, __ATOMIC_RELEASE);
            give_turn_and_wake(pipe.write_turn, pipe.readable, copied);
            return copied ? static_cast<int64_t>(size) : -SABLE_EFAULT;
        }
        give_turn_and_wake(pipe.write_turn, pipe.readable, false);
    }
    return write_pipe_in_parts(pipe, user_buffer, size, interruption);
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
    return __atomic_load_n(&g_reader_busy, __ATOMIC_ACQUIRE) == 0 || interruption->interrupted();
}

// Readers waiting for console input; the input IRQ wakes them all (each onto its own CPU).
tasks::WaitQueue g_input_waiters;

bool input_or_interrupted(void* context) {
    auto* interruption = static_cast<const Interruption*>(context);
    return drivers::console_input::available() || interruption->interrupted();
}

// Reads keys until a full line (or a Ctrl-D at its start); false if interrupted first.
bool edit_line(const Interruption& interruption) {
    g_line_length = g_line_offset = 0;
    g_line_end_of_file = false;
    for (;;) {
        char c;
        if (!drivers::console_input::read(c)) {
            if (interruption.interrupted()) return false;
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

// Out of line: its line buffer and the console's bounce buffer would otherwise give the pipe
// paths of read() and write() a 600-byte frame with a stack canary.
[[gnu::noinline]] int64_t read_console(uint64_t user_buffer, uint64_t size, Interruption interruption) {
    if (size == 0) return 0;
    if (!user_memory::range_ok(user_buffer, size)) return -SABLE_EFAULT;
    for (;;) {
        uint32_t expected = 0;
        if (__atomic_compare_exchange_n(&g_reader_busy, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) break;
        if (interruption.interrupted()) return -SABLE_EINTR;
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

[[gnu::noinline]] int64_t write_console(uint64_t user_buffer, uint64_t size) {
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

// Both inlined into the system calls (whole-kernel LTO): a call layer less on every read and
// write, which end in tail calls to the file kind's path.
[[gnu::always_inline]] int64_t read(File* file, uint64_t user_buffer, uint64_t size, Interruption interruption) {
    switch (file->kind) {
    case Kind::Console: return read_console(user_buffer, size, interruption);
    case Kind::PipeRead: return read_pipe(*file->pipe, user_buffer, size, interruption);
    case Kind::PipeWrite: return -SABLE_EBADF;
    }
    return -SABLE_EBADF;
}

[[gnu::always_inline]] int64_t write(File* file, uint64_t user_buffer, uint64_t size, Interruption interruption) {
    switch (file->kind) {
    case Kind::Console: return write_console(user_buffer, size);
    case Kind::PipeWrite: return write_pipe(*file->pipe, user_buffer, size, interruption);
    case Kind::PipeRead: return -SABLE_EBADF;
    }
    return -SABLE_EBADF;
}

uint64_t pipes_open() { return __atomic_load_n(&g_pipes_open, __ATOMIC_RELAXED); }

}  // namespace kernel::files
