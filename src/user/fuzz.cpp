// fuzz: a seeded ring-3 system-call fuzzer. Forked workers make calls with valid and invalid
// numbers and with arguments at every edge (pointers at both ends of each user window, into the
// kernel and the direct map, non-canonical; huge and straddling lengths; bad descriptors, pids,
// flags), check each result against what docs/syscalls.md promises, and report through a shared
// page, so a worker that dies or hangs is named with its seed and the call it was in while the
// campaign goes on. At the end every worker is reaped and every frame must be back.
//
//   fuzz [seed=S] [calls=N] [workers=W] [seconds=T]   a campaign (T > 0: run for T s instead)
//   fuzz replay=<worker seed> [calls=N]               one worker in the foreground, each call traced
//
// docs/testing.md explains the oracle, what the campaign excludes and why, and the frame check.
#include <errno.h>
#include <sable/sys.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "census.hpp"

extern "C" char __init_array_start[];  // user.ld: the first byte of the data segment
extern "C" char _end[];                // user.ld: the end of bss, where the break starts

namespace {

using census::Random;

constexpr uint64_t kPage = 4096;
constexpr unsigned kMaxWorkers = 16;
constexpr uint64_t kDefaultCalls = 100000;
constexpr unsigned kDefaultWorkers = 4;
// A worker ends after this many calls and a fresh one (new seed) takes its place: short lives
// keep every worker's history replayable and exercise exit with whatever it owns at the time.
constexpr uint64_t kCallsPerWorker = 2000;
// No call the fuzzer makes may block longer than a few ms (it avoids the ones that would), so a
// worker whose call count stands still this long on the kernel's clock is a hang: it is
// killed and the campaign fails.
constexpr uint64_t kStuckMs = 20000;
// How long the end-of-campaign census may take to settle (orphans reaped by init, kernel stacks
// freed by the reaper) before the run counts as a leak.
constexpr uint64_t kSettleMs = 30000;
constexpr int kViolationExit = 99;  // a worker whose call broke the oracle exits with this
constexpr int kForkChildExit = 42;  // what a fuzzed fork's child exits with
// The trace's descriptor in replay (and an unused console reference in a campaign, so that both
// allocate descriptors alike): never fuzzed.
constexpr int kReservedFd = SABLE_MAX_FDS - 1;
// Each descriptor may hold an end of a different pipe, so there can be as many pipes as descriptors.
constexpr unsigned kMaxChildren = 4, kMaxThreads = 3, kMaxRegions = 16, kMaxPipes = SABLE_MAX_FDS;
// Brk growth a worker may ask for, except the rare call that asks for all of user space.
constexpr uint64_t kBrkBudget = 4ull << 20;
// The report pages sit here, far from every edge the fuzzer aims at; no fuzzed call may touch them.
constexpr uint64_t kReportAddress = SABLE_MMAP_BASE + (1ull << 40);
constexpr uint64_t kReportBytes = 4 * kPage;
constexpr size_t kScratchBytes = 32 * 1024;
constexpr uint64_t kScratchGuard = 64;  // bytes after a kernel-written buffer that must stay
constexpr uint8_t kGuardByte = 0xA5;

// One worker's state as the campaign parent sees it: written by the worker before and after
// each call, so the parent can name the call a dead or hung worker was in.
struct WorkerReport {
    uint64_t seed;
    uint64_t calls_done;
    uint64_t number;
    uint64_t args[6];
    int64_t result;
    uint32_t in_call;    // 1 between the record and the result
    uint32_t risky;      // the call in progress may legitimately kill the worker
    uint32_t doomed;     // a thread was started at code that faults: the worker dies soon
    char violation[96];  // set before kViolationExit: what the oracle expected
    // Calls made and TSC cycles spent in them, per call number (the last: invalid numbers), so
    // a campaign can say where its time went.
    struct {
        uint64_t calls, cycles;
    } cost[SYS_COUNT + 1];
};
static_assert(sizeof(WorkerReport) * kMaxWorkers <= kReportBytes);

WorkerReport* g_reports = reinterpret_cast<WorkerReport*>(kReportAddress);

alignas(kPage) uint8_t g_scratch[kScratchBytes];
uint32_t g_futex_word = 7;

// ---- addresses ----------------------------------------------------------------------------------

// The kernel's rule for a user buffer (docs/syscalls.md, "User pointers"): inside one window,
// without wrapping. A buffer outside it must be refused with EFAULT before anything is touched.
bool user_range(uint64_t address, uint64_t length) {
    if (address >= SABLE_USER_BASE && address <= SABLE_USER_TOP) return length <= SABLE_USER_TOP - address;
    return address >= SABLE_HIGH_USER_BASE && address <= SABLE_HIGH_USER_TOP && length <= SABLE_HIGH_USER_TOP - address;
}

bool overlaps(uint64_t a, uint64_t a_length, uint64_t b, uint64_t b_length) {
    const uint64_t a_end = a + a_length < a ? ~0ull : a + a_length;
    const uint64_t b_end = b + b_length < b ? ~0ull : b + b_length;
    return a < b_end && b < a_end;
}

uint64_t scratch_base() { return reinterpret_cast<uint64_t>(g_scratch); }
bool in_scratch(uint64_t address, uint64_t length) {
    return address >= scratch_base() && length <= kScratchBytes && address - scratch_base() <= kScratchBytes - length;
}

[[noreturn]] __attribute__((noinline)) void die_by_invalid_opcode(uint64_t) { __builtin_trap(); }

// ---- the worker's model of what it owns ------------------------------------------------------------

struct PipeModel {
    bool live;
    int readers, writers;  // descriptors of this worker
    // Bytes in it, at least and at most: a read into a bad page loses up to one 512-byte piece
    // the worker never sees (docs/syscalls.md), so after such a read only bounds are known.
    uint64_t least, most;
    bool foreign;  // a spawned child holds an end: it may write (more bytes), and its ends count
};

struct Region {
    uint64_t start, end;
    uint32_t prot;
};

struct Child {
    int pid;
    bool spawned;
};

struct Model {
    int fd_pipe[SABLE_MAX_FDS];  // -1: closed (as far as the model knows)
    bool fd_writes[SABLE_MAX_FDS];
    PipeModel pipes[kMaxPipes];
    Child children[kMaxChildren];
    unsigned child_count;
    int threads[kMaxThreads];
    unsigned thread_count;
    Region regions[kMaxRegions];
    unsigned region_count;
    bool regions_complete;  // false once a region had to be dropped from the list
    uint64_t break_base, break_now;
    int pid, parent_pid;
    unsigned cpus;
    uint64_t last_clock;
};

bool fd_open(const Model& m, uint64_t fd) { return fd < SABLE_MAX_FDS && m.fd_pipe[fd] >= 0; }

uint64_t page_down(uint64_t address) { return address & ~(kPage - 1); }
uint64_t page_up(uint64_t length) { return (length + kPage - 1) & ~(kPage - 1); }

void fd_drop(Model& m, int fd) {
    const int p = m.fd_pipe[fd];
    if (p < 0) return;
    PipeModel& pipe = m.pipes[p];
    (m.fd_writes[fd] ? pipe.writers : pipe.readers)--;
    if (pipe.readers == 0 && pipe.writers == 0) pipe.live = false;
    m.fd_pipe[fd] = -1;
}

void fd_set(Model& m, int fd, int pipe, bool writes) {
    fd_drop(m, fd);
    m.fd_pipe[fd] = pipe;
    m.fd_writes[fd] = writes;
    (writes ? m.pipes[pipe].writers : m.pipes[pipe].readers)++;
}

// Whether a read of this pipe end could block: perhaps nothing in it, and a writer left.
bool read_may_block(const Model& m, int fd) {
    const PipeModel& pipe = m.pipes[m.fd_pipe[fd]];
    return pipe.least == 0 && (pipe.writers > 0 || pipe.foreign);
}

// Whether a write could block: perhaps too little room, and a reader left (the worker itself,
// which would never read while it waits). A spawned child may have filled it: assume so.
bool write_may_block(const Model& m, int fd, uint64_t length) {
    const PipeModel& pipe = m.pipes[m.fd_pipe[fd]];
    constexpr uint64_t kPipeCapacity = 16 * 1024;  // src/proc/files.cpp
    if (pipe.foreign) return true;
    return pipe.readers > 0 && length > kPipeCapacity - pipe.most;
}

const Region* region_at(const Model& m, uint64_t address) {
    for (unsigned i = 0; i < m.region_count; ++i)
        if (address >= m.regions[i].start && address < m.regions[i].end) return &m.regions[i];
    return nullptr;
}

void region_add(Model& m, Region region) {
    if (m.region_count == kMaxRegions) {
        m.regions_complete = false;
        return;
    }
    m.regions[m.region_count++] = region;
}

// Takes [start, end) out of the model's regions, splitting where needed; with `prot` >= 0 puts
// it back with that protection (mprotect) instead of leaving a hole (munmap).
void region_change(Model& m, uint64_t start, uint64_t end, int64_t prot) {
    Region kept[kMaxRegions * 2 + 1];
    unsigned count = 0;
    for (unsigned i = 0; i < m.region_count; ++i) {
        const Region r = m.regions[i];
        if (r.end <= start || r.start >= end) {
            kept[count++] = r;
            continue;
        }
        if (r.start < start) kept[count++] = {r.start, start, r.prot};
        if (r.end > end) kept[count++] = {end, r.end, r.prot};
        if (prot >= 0)
            kept[count++] = {r.start > start ? r.start : start, r.end < end ? r.end : end, static_cast<uint32_t>(prot)};
    }
    m.region_count = 0;
    for (unsigned i = 0; i < count; ++i) region_add(m, kept[i]);
}

bool regions_cover(const Model& m, uint64_t start, uint64_t end) {
    for (uint64_t at = start; at < end;) {
        const Region* r = region_at(m, at);
        if (!r) return false;
        at = r->end;
    }
    return true;
}

// Memory the worker itself lives in (its data, stack, thread stacks, the report page): no
// fuzzed call may have the kernel write there. Everything else is fair game: scratch, the heap
// above bss, mmap regions, read-only text (the write fails), and the holes between.
bool clobbers_worker(uint64_t address, uint64_t length) {
    if (!user_range(address, length) || length == 0) return false;
    const uint64_t data = reinterpret_cast<uint64_t>(__init_array_start), end = reinterpret_cast<uint64_t>(_end);
    // The deep end of the main stack is unused: a write there tests stack growth inside a copy.
    constexpr uint64_t kStackUsedBelowTop = SABLE_STACK_REGION_SIZE - (1ull << 20);
    return overlaps(address, length, data, scratch_base() - data) ||
           overlaps(address, length, scratch_base() + kScratchBytes, end - (scratch_base() + kScratchBytes)) ||
           overlaps(address, length, SABLE_STACK_TOP - kStackUsedBelowTop, kStackUsedBelowTop) ||
           overlaps(address, length, SABLE_THREAD_STACKS_BASE, SABLE_MAX_THREADS * SABLE_THREAD_STACK_SLOT) ||
           overlaps(address, length, kReportAddress, kReportBytes);
}

// Whether the worker can read [address, address + length) back (a pipe's descriptors).
bool readable(const Model& m, uint64_t address, uint64_t length) {
    if (in_scratch(address, length)) return true;
    const Region* r = region_at(m, address);
    return r && r->prot != SABLE_PROT_NONE && address + length <= r->end;
}

// ---- argument pools -------------------------------------------------------------------------------

uint64_t pick_length(Random& r) {
    switch (r.below(12)) {
        case 0:
            return 0;
        case 1:
            return 1;
        case 2:
            return r.below(64);
        case 3:
            return r.below(kPage);
        case 4:
            return kPage;
        case 5:
            return kPage + 1;
        case 6:
            return 1ull << r.below(64);
        case 7:
            return ~0ull - r.below(4);
        case 8:
            return 1ull << 63;
        case 9:
            return SABLE_USER_TOP;
        default:
            return r.below(512);
    }
}

// An address from one of the places a pointer argument can point: good memory, both edges of
// each window, the holes, the kernel, non-canonical.
uint64_t pick_address(Random& r, const Model& m) {
    switch (r.below(20)) {
        case 0:
            return 0;
        case 1:
            return r.below(SABLE_USER_BASE);  // below user space
        case 2:
            return SABLE_USER_BASE - 1 - r.below(64);  // straddles its start
        case 3:
            return reinterpret_cast<uint64_t>(&pick_address) + r.below(256);  // text: read-only
        case 4:
            return SABLE_USER_TOP - r.below(2 * kPage);  // top of the low window
        case 5:
            return SABLE_USER_TOP + r.below(64);  // just above it
        case 6:
            return SABLE_GUARD_PAGE + r.below(kPage);  // stack guard page
        case 7:
            return (m.break_now + kPage - 1) / kPage * kPage + r.below(4 * kPage);  // unmapped heap
        case 8:
            return 0xffffffff80000000ull + r.below(1ull << 30);  // kernel image
        case 9:
            return 0xffff800000000000ull + r.below(1ull << 40);  // kernel half
        case 10:
            return SABLE_USER_TOP + r.below(SABLE_HIGH_USER_BASE - SABLE_USER_TOP);  // direct map
        case 11:
            return SABLE_HIGH_USER_TOP + r.below(1ull << 40);  // non-canonical
        case 12:
            return (1ull << 63) | r.next();  // non-canonical or kernel
        case 13:
            return SABLE_HIGH_USER_BASE - 8 + r.below(16);  // high window start
        case 14:
            return SABLE_HIGH_USER_TOP - r.below(2 * kPage);  // high window end
        case 15:
            return SABLE_STACK_BOTTOM + r.below(1ull << 20);  // unused deep stack
        case 16:
            if (m.region_count) {
                const Region& region = m.regions[r.below(m.region_count)];
                return region.start +
                       r.below(region.end - region.start < 4 * kPage ? region.end - region.start : 4 * kPage);
            }
            return SABLE_MMAP_BASE + r.below(1ull << 30);
        case 17:
            return ~0ull - r.below(kPage);
        default:
            return scratch_base() + r.below(kScratchBytes);  // good memory
    }
}

// A buffer of `length` bytes the kernel may write: anything but the worker's own memory. Good
// scratch is placed so the guard bytes after it can be checked.
uint64_t pick_out_buffer(Random& r, const Model& m, uint64_t length) {
    uint64_t address = pick_address(r, m);
    const bool into_scratch = address >= scratch_base() && address < scratch_base() + kScratchBytes;
    if (into_scratch || clobbers_worker(address, length)) {
        const uint64_t room = length + kScratchGuard < kScratchBytes ? kScratchBytes - length - kScratchGuard : 0;
        address = scratch_base() + r.below(room + 1);
    }
    return address;
}

int pick_fd(Random& r, const Model& m) {
    if (r.below(4) != 0) {
        int open[SABLE_MAX_FDS];
        unsigned count = 0;
        for (int fd = 0; fd < SABLE_MAX_FDS; ++fd)
            if (m.fd_pipe[fd] >= 0) open[count++] = fd;
        if (count) return open[r.below(count)];
    }
    static const int kEdges[] = {-1, SABLE_MAX_FDS, SABLE_MAX_FDS + 1, 1 << 30, -2147483647 - 1, 0, 1, 2};
    if (r.one_in(2)) return kEdges[r.below(sizeof kEdges / sizeof kEdges[0])];
    return static_cast<int>(r.below(kReservedFd));
}

// ---- one call ----------------------------------------------------------------------------------------

// What the oracle demands of a result.
enum class Expect {
    Anything,  // the call's own checks are in `check`
    Failure,   // any error
    Error,     // exactly -expected
    Value,     // exactly expected
};

struct Call {
    uint64_t number;
    uint64_t args[6];
    Expect expect;
    int64_t expected;
    uint64_t out;        // a buffer the kernel may write; if in scratch, checked afterwards:
    uint64_t out_limit;  // its size, or for the lists the size of one entry
    uint64_t out_fill;   // bytes from `out` the guard pattern covers before the call
    bool risky;          // may legitimately kill the worker
};

void expect_error(Call& c, int error) {
    c.expect = Expect::Error;
    c.expected = -error;
}

void expect_value(Call& c, int64_t value) {
    c.expect = Expect::Value;
    c.expected = value;
}

const char* call_name(uint64_t number) {
    static const char* const kNames[SYS_COUNT] = {
        "exit",         "getpid",        "getppid",      "yield",       "fork",         "waitpid",    "spawn",
        "sleep_ms",     "read",          "write",        "pipe",        "close",        "dup2",       "brk",
        "clock_ns",     "getcpu",        "set_affinity", "kill",        "process_list", "meminfo",    "cpu_info",
        "program_list", "thread_create", "thread_exit",  "thread_join", "gettid",       "futex_wait", "futex_wake",
        "thread_list",  "mmap",          "munmap",       "mprotect",    "reboot"};
    return number < SYS_COUNT ? kNames[number] : "invalid";
}

// The worker's extra threads: a few harmless calls, then an exit with a value join can check.
[[noreturn]] void fuzz_thread(uint64_t argument) {
    for (uint64_t i = 0; i < (argument & 3); ++i) sable_syscall0(SYS_YIELD);
    sable_syscall1(SYS_THREAD_EXIT, static_cast<long>(argument));
    __builtin_trap();
}

// The descriptors a spawn with this `stdio` argument gives the child, as far as the worker can
// tell: false if it cannot tell (memory it cannot read), true with nothing in `out` if the
// kernel will refuse the pointer.
bool child_stdio(const Model& m, uint64_t stdio, int (&out)[3]) {
    if (stdio == 0) {
        for (int fd = 0; fd < 3; ++fd) out[fd] = fd;
        return true;
    }
    if (!user_range(stdio, sizeof out)) {
        for (int& fd : out) fd = -1;
        return true;
    }
    if (!readable(m, stdio, sizeof out)) return false;
    memcpy(out, reinterpret_cast<const void*>(stdio), sizeof out);
    return true;
}

// A child that holds both ends of one pipe could fill it and wait forever for itself to read:
// such a spawn is left out (as is one whose descriptors the worker cannot see).
bool child_stdio_safe(const Model& m, uint64_t stdio) {
    int fds[3];
    if (!child_stdio(m, stdio, fds)) return false;
    for (int reader : fds)
        for (int writer : fds)
            if (fd_open(m, static_cast<uint64_t>(reader)) && fd_open(m, static_cast<uint64_t>(writer)) &&
                !m.fd_writes[reader] && m.fd_writes[writer] && m.fd_pipe[reader] == m.fd_pipe[writer])
                return false;
    return true;
}

const char kLongName[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";  // 40 bytes: ENAMETOOLONG

// Builds the next call into `c` from the generator and the model. Returns false for a draw the
// campaign excludes (it would end or stall the test, or touch the worker's own memory).
bool generate(Random& r, Model& m, Call& c) {
    c = Call{};
    c.expect = Expect::Anything;
    static const uint16_t kWeights[] = {
        // exit getpid getppid yield fork waitpid spawn sleep read write pipe close dup2 brk clock
        0, 2, 2, 2, 2, 6, 3, 2, 10, 10, 6, 5, 5, 5, 1,
        // getcpu affinity kill plist meminfo cpuinfo proglist tcreate texit tjoin gettid fwait fwake
        1, 3, 3, 4, 4, 4, 4, 3, 0, 4, 1, 6, 4,
        // tlist mmap munmap mprotect reboot invalid
        4, 8, 6, 6, 1, 5};
    static_assert(sizeof kWeights / sizeof kWeights[0] == SYS_COUNT + 1);
    unsigned total = 0;
    for (uint16_t w : kWeights) total += w;
    uint64_t pick = r.below(total), number = 0;
    while (pick >= kWeights[number]) pick -= kWeights[number++];
    c.number = number;
    uint64_t* a = c.args;
    for (unsigned i = 0; i < 6; ++i) a[i] = r.one_in(4) ? r.next() : r.below(64);

    switch (number) {
        case SYS_GETPID:
            expect_value(c, m.pid);
            break;
        case SYS_GETPPID:
            expect_value(c, m.parent_pid);
            break;
        case SYS_YIELD:
            expect_value(c, 0);
            break;
        case SYS_GETTID:
            expect_value(c, 1);
            break;
        case SYS_CLOCK_NS:
        case SYS_GETCPU:
            break;
        case SYS_FORK:
            if (m.child_count == kMaxChildren) return false;
            break;
        case SYS_WAITPID: {
            const bool spawned_alive = [&] {
                for (unsigned i = 0; i < m.child_count; ++i)
                    if (m.children[i].spawned) return true;
                return false;
            }();
            static const int kPids[] = {-1, 0, 1, -2, 0x7fffffff};
            a[0] = static_cast<uint64_t>(static_cast<int64_t>(
                m.child_count && r.one_in(2) ? m.children[r.below(m.child_count)].pid : kPids[r.below(5)]));
            a[1] = r.one_in(3) ? 0 : pick_out_buffer(r, m, 4);
            a[2] = r.one_in(8) ? r.next() : r.below(2);
            // A spawned child may be blocked on a pipe this worker holds: never wait for it. (The
            // kernel reads flags as 32 bits.)
            if (spawned_alive && !(a[2] & 0xfffffffeull)) a[2] |= SABLE_WNOHANG;
            const int pid = static_cast<int>(a[0]);
            bool matches = false;
            for (unsigned i = 0; i < m.child_count; ++i) matches |= pid == -1 || m.children[i].pid == pid;
            if (a[2] & ~uint64_t{SABLE_WNOHANG} & 0xffffffffull)
                expect_error(c, SABLE_EINVAL);
            else if (a[1] && !user_range(a[1], 4))
                expect_error(c, SABLE_EFAULT);
            else if (!matches)
                expect_error(c, SABLE_ECHILD);
            c.out = a[1];
            c.out_limit = c.out_fill = 4;
            break;
        }
        case SYS_SPAWN: {
            if (m.child_count == kMaxChildren) return false;
            // Only programs that end by themselves whatever their descriptors: true, echo, hello.
            static const char* const kNames[] = {"true", "echo", "hello", "nosuch", "", kLongName};
            static const char* kArgv[] = {"echo", "fuzz", "argument", nullptr};
            static const char* kTooMany[SABLE_MAX_ARGS + 2];
            for (unsigned i = 0; i <= SABLE_MAX_ARGS; ++i) kTooMany[i] = "x";
            const unsigned name = static_cast<unsigned>(r.below(7));
            a[0] = name < 6 ? reinterpret_cast<uint64_t>(kNames[name]) : pick_address(r, m);
            switch (r.below(5)) {
                case 0:
                    a[1] = 0;
                    break;
                case 1:
                    a[1] = reinterpret_cast<uint64_t>(kTooMany);
                    break;
                case 2:
                    a[1] = pick_address(r, m);
                    break;
                default:
                    a[1] = reinterpret_cast<uint64_t>(kArgv);
                    break;
            }
            if (r.one_in(2)) {
                a[2] = 0;
            } else if (r.one_in(4)) {
                a[2] = pick_address(r, m);
            } else {
                auto* stdio = reinterpret_cast<int*>(scratch_base() + kScratchBytes - 3 * sizeof(int));
                for (unsigned i = 0; i < 3; ++i) {
                    stdio[i] = pick_fd(r, m);
                    if (stdio[i] == kReservedFd) stdio[i] = -1;  // no child writes on the console
                }
                a[2] = reinterpret_cast<uint64_t>(stdio);
            }
            if (!child_stdio_safe(m, a[2])) return false;
            if (!user_range(a[0], 1))
                expect_error(c, SABLE_EFAULT);
            else if (name == 5)
                expect_error(c, SABLE_ENAMETOOLONG);
            else if (name == 3 || name == 4)
                c.expect = Expect::Failure;
            break;
        }
        case SYS_SLEEP_MS:
            a[0] = r.below(3);
            expect_value(c, 0);
            break;
        case SYS_READ:
        case SYS_WRITE: {
            const bool reading = number == SYS_READ;
            const int fd = pick_fd(r, m);
            if (fd == kReservedFd) return false;
            a[0] = static_cast<uint64_t>(static_cast<int64_t>(fd));
            a[2] = pick_length(r);
            a[1] = reading ? pick_out_buffer(r, m, a[2]) : pick_address(r, m);
            const bool in_range = user_range(a[1], a[2]);
            if (!fd_open(m, a[0])) {
                expect_error(c, SABLE_EBADF);
            } else if (m.fd_writes[fd] != !reading) {
                expect_error(c, SABLE_EBADF);
            } else if (reading) {
                if (a[2] == 0)
                    expect_value(c, 0);
                else if (!in_range)
                    expect_error(c, SABLE_EFAULT);
                else if (read_may_block(m, fd))
                    return false;
            } else {
                if (!in_range)
                    expect_error(c, SABLE_EFAULT);
                else if (write_may_block(m, fd, a[2]))
                    return false;
            }
            if (reading) {
                c.out = a[1];
                c.out_limit = c.out_fill = a[2];
            }
            break;
        }
        case SYS_PIPE:
            a[0] = pick_out_buffer(r, m, 8);
            if (!user_range(a[0], 8)) expect_error(c, SABLE_EFAULT);
            c.out = a[0];
            c.out_limit = c.out_fill = 8;
            break;
        case SYS_CLOSE: {
            const int fd = pick_fd(r, m);
            if (fd == kReservedFd) return false;
            a[0] = static_cast<uint64_t>(static_cast<int64_t>(fd));
            if (fd_open(m, a[0]))
                expect_value(c, 0);
            else
                expect_error(c, SABLE_EBADF);
            break;
        }
        case SYS_DUP2: {
            const int from = pick_fd(r, m), to = r.one_in(2) ? pick_fd(r, m) : static_cast<int>(r.below(kReservedFd));
            if (from == kReservedFd || to == kReservedFd) return false;
            a[0] = static_cast<uint64_t>(static_cast<int64_t>(from));
            a[1] = static_cast<uint64_t>(static_cast<int64_t>(to));
            if (!fd_open(m, a[0]) || a[1] >= SABLE_MAX_FDS)
                expect_error(c, SABLE_EBADF);
            else
                expect_value(c, to);
            break;
        }
        case SYS_BRK:
            switch (r.below(8)) {
                case 0:
                    a[0] = 0;
                    expect_value(c, static_cast<int64_t>(m.break_now));
                    break;
                case 1:  // below the first break, which the kernel put at the end of bss
                    a[0] = page_down(reinterpret_cast<uint64_t>(_end)) - 1 - r.below(kPage);
                    expect_error(c, SABLE_ENOMEM);
                    break;
                case 2:
                    a[0] = SABLE_GUARD_PAGE + 1 + r.below(1ull << 40);
                    expect_error(c, SABLE_ENOMEM);
                    break;
                case 3:
                    // All of user space, rarely: the kernel maps until memory runs out and undoes it
                    // (other workers may meet out-of-memory meanwhile).
                    if (!r.one_in(64)) return false;
                    a[0] = SABLE_GUARD_PAGE;
                    c.risky = true;
                    break;
                default:
                    a[0] = m.break_base + r.below(kBrkBudget);
                    break;
            }
            break;
        case SYS_SET_AFFINITY: {
            static const uint64_t kMasks[] = {0, ~0ull, 1, 2, 3, 1ull << 63, 0xf0, 0x5};
            a[0] = r.one_in(4) ? r.next() : kMasks[r.below(8)];
            const uint64_t online = m.cpus >= 64 ? ~0ull : (1ull << m.cpus) - 1;
            if (a[0] == 0 || a[0] == ~0ull || (a[0] & online))
                expect_value(c, 0);
            else
                expect_error(c, SABLE_EINVAL);
            break;
        }
        case SYS_KILL:
            if (m.child_count && r.below(4) != 0) {
                a[0] = static_cast<uint64_t>(m.children[r.below(m.child_count)].pid);
                expect_value(c, 0);
            } else if (r.one_in(400)) {
                a[0] = static_cast<uint64_t>(m.pid);  // itself: the worker dies of "kill request"
                c.risky = true;
            } else {
                static const int64_t kNobody[] = {0, -1, -2147483647 - 1, 0x7fffffff, 1ll << 32};
                a[0] = static_cast<uint64_t>(kNobody[r.below(5)]);
                // The kernel reads the pid as 32 bits: 1 << 32 is pid 0, nobody either.
                expect_error(c, SABLE_ESRCH);
            }
            break;
        case SYS_PROCESS_LIST:
        case SYS_CPU_INFO:
        case SYS_THREAD_LIST: {
            const uint64_t size = number == SYS_PROCESS_LIST ? sizeof(sable_process_info)
                                  : number == SYS_CPU_INFO   ? sizeof(sable_cpu_info)
                                                             : sizeof(sable_thread_info);
            static const uint64_t kCounts[] = {0, 1, 2, 3, 64, 1ull << 40, ~0ull};
            a[1] = r.one_in(4) ? r.next() : kCounts[r.below(7)];
            // The kernel lists few entries of each, so a scratch buffer of 4 KiB holds them all.
            const uint64_t bytes = a[1] > kPage / size ? kPage : a[1] * size;
            a[0] = pick_out_buffer(r, m, bytes);
            if (a[1] && !user_range(a[0], size)) expect_error(c, SABLE_EFAULT);
            if (a[1] && number != SYS_CPU_INFO && c.expect == Expect::Error) c.expect = Expect::Failure;  // or ENOMEM
            c.out = a[0];
            c.out_limit = size;  // per entry: checked against the count returned
            c.out_fill = bytes;
            break;
        }
        case SYS_MEMINFO:
            a[0] = pick_out_buffer(r, m, sizeof(sable_meminfo));
            if (!user_range(a[0], sizeof(sable_meminfo))) expect_error(c, SABLE_EFAULT);
            c.out = a[0];
            c.out_limit = c.out_fill = sizeof(sable_meminfo);
            break;
        case SYS_PROGRAM_LIST:
            a[1] = r.one_in(2) ? r.below(512) : pick_length(r);
            a[0] = pick_out_buffer(r, m, a[1] > kPage ? kPage : a[1]);
            if (!user_range(a[0], a[1])) expect_error(c, SABLE_EFAULT);
            c.out = a[0];
            c.out_limit = a[1];
            c.out_fill = a[1] > kPage ? kPage : a[1];  // the names take a few hundred bytes
            break;
        case SYS_THREAD_CREATE: {
            if (m.thread_count == kMaxThreads) return false;
            a[1] = r.below(1024);
            switch (r.below(12)) {
                case 0:
                    a[0] = 0;
                    expect_error(c, SABLE_EFAULT);
                    break;
                case 1:
                    a[0] = 0xffffffff80100000ull;
                    expect_error(c, SABLE_EFAULT);
                    break;
                case 2:
                    a[0] = SABLE_HIGH_USER_TOP + r.below(kPage);
                    expect_error(c, SABLE_EFAULT);
                    break;
                case 3:
                    a[0] = r.below(SABLE_USER_BASE);
                    expect_error(c, SABLE_EFAULT);
                    break;
                case 4:
                    if (!r.one_in(8)) return false;
                    // Code that faults: the fault ends the whole worker.
                    a[0] = r.one_in(2) ? reinterpret_cast<uint64_t>(&die_by_invalid_opcode) : scratch_base();
                    c.risky = true;
                    break;
                default:
                    a[0] = reinterpret_cast<uint64_t>(&fuzz_thread);
                    break;
            }
            break;
        }
        case SYS_THREAD_JOIN: {
            static const int kTids[] = {1, 0, -1, 9999};
            const bool own = m.thread_count && r.below(3) != 0;
            const int tid = own ? m.threads[r.below(m.thread_count)] : kTids[r.below(4)];
            a[0] = static_cast<uint64_t>(static_cast<int64_t>(tid));
            a[1] = r.one_in(3) ? 0 : pick_out_buffer(r, m, 8);
            if (a[1] && !user_range(a[1], 8))
                c.expect = Expect::Failure;
            else if (tid == 1)
                expect_error(c, SABLE_EDEADLK);
            else if (!own)
                expect_error(c, SABLE_ESRCH);
            c.out = a[1];
            c.out_limit = c.out_fill = 8;
            break;
        }
        case SYS_FUTEX_WAIT:
        case SYS_FUTEX_WAKE: {
            const uint64_t word = reinterpret_cast<uint64_t>(&g_futex_word);
            switch (r.below(4)) {
                case 0:
                    a[0] = word;
                    break;
                case 1:
                    a[0] = word + 1 + r.below(3);
                    break;
                default:
                    a[0] = pick_address(r, m);
                    break;
            }
            const bool aligned = (a[0] & 3) == 0;
            if (number == SYS_FUTEX_WAIT) {
                a[1] = r.one_in(2) ? g_futex_word : r.below(16);
                static const uint64_t kTimeouts[] = {0, 1, 2, SABLE_FUTEX_FOREVER};
                a[2] = kTimeouts[r.below(4)];
                const bool bad = !aligned || !user_range(a[0], 4);
                // Only a wait that must fail may go without a timeout: nothing wakes the worker.
                if (a[2] == SABLE_FUTEX_FOREVER && !bad && !(a[0] == word && a[1] != g_futex_word)) a[2] = 1;
                if (!aligned)
                    expect_error(c, SABLE_EINVAL);
                else if (!user_range(a[0], 4))
                    expect_error(c, SABLE_EFAULT);
                else if (a[0] == word)
                    expect_error(c, a[1] != g_futex_word ? SABLE_EAGAIN : SABLE_ETIMEDOUT);
            } else {
                a[1] = r.one_in(2) ? r.below(4) : r.next();
                if (!aligned)
                    expect_error(c, SABLE_EINVAL);
                else if (!user_range(a[0], 4))
                    expect_error(c, SABLE_EFAULT);
                else if (a[0] == word)
                    expect_value(c, 0);  // nobody waits on it
            }
            break;
        }
        case SYS_MMAP: {
            static const uint64_t kProts[] = {SABLE_PROT_NONE,
                                              SABLE_PROT_READ,
                                              SABLE_PROT_READ | SABLE_PROT_WRITE,
                                              SABLE_PROT_READ | SABLE_PROT_EXEC,
                                              SABLE_PROT_WRITE | SABLE_PROT_EXEC,
                                              8};
            static const uint64_t kFlags[] = {SABLE_MAP_PRIVATE,
                                              SABLE_MAP_SHARED,
                                              SABLE_MAP_PRIVATE | SABLE_MAP_FIXED,
                                              SABLE_MAP_SHARED | SABLE_MAP_FIXED,
                                              0,
                                              SABLE_MAP_PRIVATE | SABLE_MAP_SHARED,
                                              16 | SABLE_MAP_PRIVATE};
            switch (r.below(6)) {
                case 0:
                    a[0] = 0;
                    break;
                case 1:
                    a[0] = SABLE_MMAP_BASE + r.below(1ull << 32) * kPage;
                    break;
                case 2:
                    a[0] = SABLE_MMAP_TOP - (1 + r.below(4)) * kPage;
                    break;
                case 3:
                    a[0] = SABLE_MMAP_BASE - kPage;
                    break;
                case 4:
                    a[0] = pick_address(r, m);
                    break;
                default:
                    a[0] = SABLE_MMAP_BASE + r.below(64) * kPage;
                    break;
            }
            a[1] = r.below(3) == 0 ? pick_length(r) : (1 + r.below(8)) * kPage - r.below(2);
            if (r.one_in(16)) a[1] = SABLE_MMAP_TOP - SABLE_MMAP_BASE - r.below(2) * kPage;  // the window
            a[2] = kProts[r.below(6)];
            a[3] = kFlags[r.below(7)];
            const bool fixed = a[3] & SABLE_MAP_FIXED;
            const uint64_t size = page_up(a[1]);
            if (fixed && overlaps(a[0], size ? size : 1, kReportAddress, kReportBytes)) return false;
            const uint64_t sharing = a[3] & (SABLE_MAP_PRIVATE | SABLE_MAP_SHARED);
            const bool bad_prot = a[2] > 7 || (a[2] & 6) == 6;  // unknown bits, or write with execute
            if (a[1] == 0) {
                expect_error(c, SABLE_EINVAL);
            } else if (a[1] > SABLE_MMAP_TOP - SABLE_MMAP_BASE) {
                expect_error(c, SABLE_ENOMEM);
            } else if ((a[3] & ~7ull) || sharing == 0 || sharing == 3 || bad_prot) {
                expect_error(c, SABLE_EINVAL);
            } else if (fixed && ((a[0] & (kPage - 1)) || a[0] < SABLE_MMAP_BASE || a[0] > SABLE_MMAP_TOP ||
                                 size > SABLE_MMAP_TOP - a[0])) {
                expect_error(c, SABLE_EINVAL);
            }
            break;
        }
        case SYS_MUNMAP:
        case SYS_MPROTECT: {
            switch (r.below(5)) {
                case 0:
                case 1:
                    if (m.region_count) {
                        const Region& region = m.regions[r.below(m.region_count)];
                        a[0] = region.start + (r.one_in(2) ? 0 : kPage * r.below(3)) - (r.one_in(4) ? kPage : 0);
                        a[1] = r.one_in(2) ? region.end - region.start : (1 + r.below(4)) * kPage;
                        break;
                    }
                    [[fallthrough]];
                case 2:
                    a[0] = SABLE_MMAP_BASE + r.below(64) * kPage;
                    a[1] = (1 + r.below(8)) * kPage;
                    break;
                case 3:
                    a[0] = pick_address(r, m);
                    a[1] = pick_length(r);
                    break;
                default:
                    a[0] = SABLE_MMAP_TOP - r.below(4) * kPage;
                    a[1] = pick_length(r);
                    break;
            }
            if (r.one_in(8)) a[1] = SABLE_MMAP_TOP - a[0];  // up to the window's end
            a[2] = r.below(8);
            const uint64_t size = page_up(a[1]);
            const uint64_t end = a[0] + size;
            const bool in_window = a[0] >= SABLE_MMAP_BASE && end <= SABLE_MMAP_TOP && a[0] < end && end > a[0];
            if (overlaps(a[0], size ? size : 1, kReportAddress, kReportBytes)) return false;
            if ((a[0] & (kPage - 1)) || a[1] == 0)
                expect_error(c, SABLE_EINVAL);
            else if (number == SYS_MPROTECT && (a[2] & 6) == 6)
                expect_error(c, SABLE_EINVAL);
            else if (!in_window)
                expect_error(c, number == SYS_MUNMAP ? SABLE_EINVAL : SABLE_ENOMEM);
            else if (number == SYS_MPROTECT && m.regions_complete && !regions_cover(m, a[0], end))
                expect_error(c, SABLE_ENOMEM);
            break;
        }
        case SYS_REBOOT: {
            // Never a real restart or power-off: only the `how` values that must be refused.
            static const uint64_t kHows[] = {
                0, 3, ~0ull, (1ull << 32) | SABLE_REBOOT_RESTART, (1ull << 32) | SABLE_REBOOT_POWER_OFF, 0x80000001ull};
            a[0] = kHows[r.below(6)];
            expect_error(c, SABLE_EINVAL);
            break;
        }
        default: {  // SYS_COUNT: a number no call has
            static const uint64_t kNumbers[] = {
                SYS_COUNT, SYS_COUNT + 1, 255, 1ull << 32, (1ull << 32) | SYS_REBOOT, (1ull << 32) | SYS_EXIT,
                ~0ull,     1ull << 63};
            c.number = r.one_in(4) ? (r.next() | (1ull << 40)) : kNumbers[r.below(8)];
            expect_error(c, SABLE_ENOSYS);
            break;
        }
    }
    return true;
}

// ---- results -----------------------------------------------------------------------------------------

void report_violation(WorkerReport& report, const char* format, ...) __attribute__((format(printf, 2, 3)));
void report_violation(WorkerReport& report, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(report.violation, sizeof report.violation, format, args);
    va_end(args);
}

// The guard pattern over [from, to + kScratchGuard), as far as scratch reaches.
void fill_guard(uint64_t from, uint64_t to) {
    for (uint64_t at = from; at < to + kScratchGuard && at < scratch_base() + kScratchBytes; ++at)
        *reinterpret_cast<volatile uint8_t*>(at) = kGuardByte;
}

bool guard_intact(uint64_t from) {
    for (uint64_t at = from; at < from + kScratchGuard && at < scratch_base() + kScratchBytes; ++at)
        if (*reinterpret_cast<volatile uint8_t*>(at) != kGuardByte) return false;
    return true;
}

// Checks `result` against the oracle and brings the model up to date. False: a violation, with
// what was expected written to the report.
bool check_and_apply(Model& m, const Call& c, int64_t result, WorkerReport& report) {
    const uint64_t* a = c.args;
    switch (c.expect) {
        case Expect::Anything:
            break;
        case Expect::Failure:
            if (result >= 0) {
                report_violation(report, "expected an error");
                return false;
            }
            break;
        case Expect::Error:
        case Expect::Value:
            if (result != c.expected) {
                report_violation(report, "expected %ld", c.expected);
                return false;
            }
            break;
    }
    // The kernel wrote no more than it said: the guard bytes after what it wrote are intact.
    if (c.out && in_scratch(c.out, 0)) {
        uint64_t written = result < 0 ? 0 : c.out_limit;
        if (c.number == SYS_READ) written = result < 0 ? 0 : static_cast<uint64_t>(result);
        // Names that did not all fit leave the buffer's contents undefined (EINVAL).
        if (c.number == SYS_PROGRAM_LIST)
            written = result < 0 ? (result == -SABLE_EINVAL ? a[1] : 0) : static_cast<uint64_t>(result);
        if (c.number == SYS_PROCESS_LIST || c.number == SYS_CPU_INFO || c.number == SYS_THREAD_LIST) {
            const uint64_t listed = static_cast<uint64_t>(result) < a[1] ? static_cast<uint64_t>(result) : a[1];
            written = result < 0 ? 0 : listed * c.out_limit;
        }
        // A failed pipe read may have put part of a piece there before the fault: no check.
        const bool partial = c.number == SYS_READ && !in_scratch(c.out, c.out_limit);
        if (!partial && written <= c.out_fill && !guard_intact(c.out + written)) {
            report_violation(report, "wrote past the %lu bytes it reported at %p", written,
                             reinterpret_cast<void*>(c.out + written));
            return false;
        }
    }
    switch (c.number) {
        case SYS_CLOCK_NS:
            if (static_cast<uint64_t>(result) < m.last_clock) {
                report_violation(report, "clock went back from %lu", m.last_clock);
                return false;
            }
            m.last_clock = static_cast<uint64_t>(result);
            break;
        case SYS_GETCPU:
            if (result < 0 || static_cast<uint64_t>(result) >= m.cpus) {
                report_violation(report, "expected a CPU below %u", m.cpus);
                return false;
            }
            break;
        case SYS_FORK:
            if (result > 0)
                m.children[m.child_count++] = {static_cast<int>(result), false};
            else if (result != -SABLE_EAGAIN && result != -SABLE_ENOMEM) {
                report_violation(report, "expected a pid, EAGAIN or ENOMEM");
                return false;
            }
            break;
        case SYS_SPAWN:
            if (result > 0) {
                m.children[m.child_count++] = {static_cast<int>(result), true};
                int fds[3];
                if (child_stdio(m, a[2], fds))
                    for (int fd : fds)
                        if (fd_open(m, static_cast<uint64_t>(fd))) m.pipes[m.fd_pipe[fd]].foreign = true;
            }
            break;
        case SYS_WAITPID:
            if (result > 0) {
                bool known = false;
                for (unsigned i = 0; i < m.child_count; ++i) {
                    if (m.children[i].pid != result) continue;
                    known = true;
                    const bool spawned = m.children[i].spawned;
                    m.children[i] = m.children[--m.child_count];
                    if (c.args[1] && in_scratch(c.args[1], 4)) {
                        const int status = *reinterpret_cast<const int*>(c.args[1]);
                        if (!spawned && status != kForkChildExit && status != 256 + SABLE_KILL_SIGNAL) {
                            report_violation(report, "fork child %ld ended with status %d", result, status);
                            return false;
                        }
                    }
                    break;
                }
                if (!known) {
                    report_violation(report, "reaped %ld, not a child", result);
                    return false;
                }
            } else if (result == 0 && !(a[2] & SABLE_WNOHANG)) {
                report_violation(report, "0 without WNOHANG");
                return false;
            }
            break;
        case SYS_READ:
        case SYS_WRITE:
            if (result > 0 && static_cast<uint64_t>(result) > a[2]) {
                report_violation(report, "moved more than asked");
                return false;
            }
            if (fd_open(m, a[0]) && (result >= 0 || result == -SABLE_EFAULT)) {
                PipeModel& pipe = m.pipes[m.fd_pipe[a[0]]];
                const uint64_t moved = result > 0 ? static_cast<uint64_t>(result) : 0;
                auto minus = [](uint64_t value, uint64_t less) { return value > less ? value - less : 0; };
                if (c.number == SYS_WRITE) {
                    pipe.least += moved;
                    pipe.most += moved;
                } else {
                    // Into a buffer that may fault, one more piece of up to 512 bytes may be lost.
                    constexpr uint64_t kPiece = 512;
                    const bool may_lose = !in_scratch(a[1], a[2]) && a[2] > moved && user_range(a[1], a[2]);
                    const uint64_t lost = may_lose ? (a[2] - moved < kPiece ? a[2] - moved : kPiece) : 0;
                    pipe.least = minus(pipe.least, moved + lost);
                    pipe.most = minus(pipe.most, moved);
                }
            }
            break;
        case SYS_PIPE:
            if (result == 0) {
                if (!readable(m, a[0], 8)) return true;  // descriptors the worker cannot see: resync below
                const int* fds = reinterpret_cast<const int*>(a[0]);
                unsigned p = 0;
                while (p < kMaxPipes && m.pipes[p].live) ++p;
                if (p == kMaxPipes || fds[0] < 0 || fds[0] >= kReservedFd || fds[1] < 0 || fds[1] >= kReservedFd ||
                    fd_open(m, fds[0]) || fd_open(m, fds[1])) {
                    report_violation(report, "pipe gave descriptors %d %d, not two free ones", fds[0], fds[1]);
                    return false;
                }
                m.pipes[p] = {true, 0, 0, 0, 0, false};
                fd_set(m, fds[0], static_cast<int>(p), false);
                fd_set(m, fds[1], static_cast<int>(p), true);
            }
            break;
        case SYS_CLOSE:
            if (result == 0) fd_drop(m, static_cast<int>(a[0]));
            break;
        case SYS_DUP2:
            if (result >= 0 && a[0] != a[1]) {
                const int from = static_cast<int>(a[0]);
                fd_set(m, static_cast<int>(a[1]), m.fd_pipe[from], m.fd_writes[from]);
            }
            break;
        case SYS_BRK:
            if (result >= 0) {
                if (a[0] && result != static_cast<int64_t>(a[0])) {
                    report_violation(report, "expected the break at %p", reinterpret_cast<void*>(a[0]));
                    return false;
                }
                if (a[0]) m.break_now = a[0];
            } else if (result != -SABLE_ENOMEM) {
                report_violation(report, "expected ENOMEM");
                return false;
            }
            break;
        case SYS_KILL:
            break;
        case SYS_MEMINFO:
            if (result == 0 && in_scratch(a[0], sizeof(sable_meminfo)) &&
                reinterpret_cast<const sable_meminfo*>(a[0])->page_size != kPage) {
                report_violation(report, "page_size not 4096");
                return false;
            }
            break;
        case SYS_THREAD_CREATE:
            if (result > 0 && !c.risky) m.threads[m.thread_count++] = static_cast<int>(result);
            break;
        case SYS_THREAD_JOIN:
            if (result == 0) {
                for (unsigned i = 0; i < m.thread_count; ++i)
                    if (m.threads[i] == static_cast<int>(a[0])) m.threads[i] = m.threads[--m.thread_count];
            }
            break;
        case SYS_FUTEX_WAKE:
            if (result > static_cast<int64_t>(static_cast<uint32_t>(a[1]))) {
                report_violation(report, "woke more than %u", static_cast<uint32_t>(a[1]));
                return false;
            }
            break;
        case SYS_MMAP:
            if (result >= 0) {
                const uint64_t start = static_cast<uint64_t>(result), size = page_up(a[1]);
                bool taken = overlaps(start, size, kReportAddress, kReportBytes);
                for (unsigned i = 0; i < m.region_count && m.regions_complete; ++i)
                    taken |= overlaps(start, size, m.regions[i].start, m.regions[i].end - m.regions[i].start);
                if ((start & (kPage - 1)) || start < SABLE_MMAP_BASE || size > SABLE_MMAP_TOP - start || taken ||
                    ((a[3] & SABLE_MAP_FIXED) && start != a[0])) {
                    report_violation(report, "mapped [%p, +%lx): misplaced or over a mapping",
                                     reinterpret_cast<void*>(start), size);
                    return false;
                }
                region_add(m, {start, start + size, static_cast<uint32_t>(a[2])});
            }
            break;
        case SYS_MUNMAP:
        case SYS_MPROTECT:
            if (result == 0) {
                const uint64_t end = a[0] + (page_up(a[1]));
                region_change(m, a[0], end, c.number == SYS_MUNMAP ? -1 : static_cast<int64_t>(a[2]));
            }
            break;
        default:
            break;
    }
    return true;
}

// ---- the worker ------------------------------------------------------------------------------------

// A pipe call whose descriptors landed where the worker cannot read them leaves descriptors the
// model does not know: close every one of them, so the model is exact again.
void resync_descriptors(Model& m) {
    for (int fd = 0; fd < kReservedFd; ++fd)
        if (m.fd_pipe[fd] < 0) sable_syscall1(SYS_CLOSE, fd);
}

void trace(bool tracing, uint64_t index, const Call& c) {
    if (!tracing) return;
    dprintf(kReservedFd, "fuzz: call %lu: %s(%lu) args %lx %lx %lx %lx\n", index, call_name(c.number), c.number,
            c.args[0], c.args[1], c.args[2], c.args[3]);
}

// Runs `calls` calls from `seed`. Exits 0 when all were made and passed the oracle,
// kViolationExit on the first that did not.
[[noreturn]] void worker(WorkerReport& report, uint64_t seed, uint64_t calls, int parent_pid, bool tracing) {
    // The console stays out of reach: a fuzzed read of it would wait for a person, and a write
    // could put anything on the log a test reads. kReservedFd keeps a reference so that
    // descriptor numbers are handed out alike in a campaign and a replay (the trace writes there).
    sable_syscall2(SYS_DUP2, 1, kReservedFd);
    for (int fd = 0; fd < kReservedFd; ++fd) sable_syscall1(SYS_CLOSE, fd);
    Model m{};
    for (int& fd : m.fd_pipe) fd = -1;
    m.regions_complete = true;
    m.pid = getpid();
    m.parent_pid = parent_pid;
    sable_cpu_info cpus[64];
    m.cpus = static_cast<unsigned>(cpu_info(cpus, 64));
    m.break_base = m.break_now = static_cast<uint64_t>(sable_syscall1(SYS_BRK, 0));
    Random r{seed};
    for (uint64_t i = 0; i < calls;) {
        Call c;
        if (!generate(r, m, c)) continue;
        if (c.out && in_scratch(c.out, 0)) fill_guard(c.out, c.out + c.out_fill);
        report.number = c.number;
        for (unsigned k = 0; k < 6; ++k) report.args[k] = c.args[k];
        report.risky = c.risky;
        if (c.risky && c.number == SYS_THREAD_CREATE) report.doomed = 1;
        __atomic_store_n(&report.in_call, 1, __ATOMIC_RELEASE);
        trace(tracing, i, c);
        const uint64_t call_started = rdtsc_serialized();
        const int64_t result =
            sable_syscall6(static_cast<long>(c.number), static_cast<long>(c.args[0]), static_cast<long>(c.args[1]),
                           static_cast<long>(c.args[2]), static_cast<long>(c.args[3]), static_cast<long>(c.args[4]),
                           static_cast<long>(c.args[5]));
        if (c.number == SYS_FORK && result == 0) sable_syscall1(SYS_EXIT, kForkChildExit);
        auto& cost = report.cost[c.number < SYS_COUNT ? c.number : SYS_COUNT];
        ++cost.calls;
        cost.cycles += rdtsc_serialized() - call_started;
        report.result = result;
        __atomic_store_n(&report.in_call, 0, __ATOMIC_RELEASE);
        if (!check_and_apply(m, c, result, report)) {
            if (tracing) dprintf(kReservedFd, "fuzz: call %lu returned %ld: %s\n", i, result, report.violation);
            sable_syscall1(SYS_EXIT, kViolationExit);
        }
        if (c.number == SYS_PIPE && result == 0 && !readable(m, c.args[0], 8)) resync_descriptors(m);
        __atomic_store_n(&report.calls_done, ++i, __ATOMIC_RELEASE);
    }
    // Ending: descriptors first (a spawned child may be writing to a pipe this worker reads),
    // then every thread and child, so the parent's census finds nothing left behind.
    for (int fd = 0; fd < kReservedFd; ++fd) sable_syscall1(SYS_CLOSE, fd);
    for (unsigned i = 0; i < m.thread_count; ++i) sable_syscall2(SYS_THREAD_JOIN, m.threads[i], 0);
    while (sable_syscall3(SYS_WAITPID, -1, 0, 0) > 0) {
    }
    if (tracing) dprintf(kReservedFd, "fuzz: replay seed=0x%lx calls=%lu done\n", seed, calls);
    sable_syscall1(SYS_EXIT, 0);
    __builtin_trap();
}

// ---- the campaign --------------------------------------------------------------------------------

struct Slot {
    int pid;  // 0: free
    uint64_t seed, budget, last_done, last_progress_ns;
    bool stuck;
};

struct Totals {
    uint64_t calls = 0, workers = 0, killed = 0, expected_kills = 0, stuck = 0, bugs = 0;
    uint64_t calls_by_number[SYS_COUNT + 1] = {}, cycles_by_number[SYS_COUNT + 1] = {};
};

// The calls that took most of the time, e.g. "fork 31% (1204 calls, 812k cycles each) ...".
void print_costs(const Totals& totals) {
    uint64_t all = 0;
    for (uint64_t cycles : totals.cycles_by_number) all += cycles;
    if (!all) return;
    bool shown[SYS_COUNT + 1] = {};
    printf("fuzz: time by call:");
    for (unsigned rank = 0; rank < 6; ++rank) {
        unsigned top = SYS_COUNT + 1;
        for (unsigned n = 0; n <= SYS_COUNT; ++n)
            if (!shown[n] && totals.calls_by_number[n] &&
                (top > SYS_COUNT || totals.cycles_by_number[n] > totals.cycles_by_number[top]))
                top = n;
        if (top > SYS_COUNT) break;
        shown[top] = true;
        printf(" %s %lu%% (%lu calls, %luk cycles each)", call_name(top), totals.cycles_by_number[top] * 100 / all,
               totals.calls_by_number[top], totals.cycles_by_number[top] / totals.calls_by_number[top] / 1000);
    }
    printf("\n");
}

void describe_call(const WorkerReport& report, char* out, size_t size) {
    snprintf(out, size, "%s(%lu) args %lx %lx %lx %lx", call_name(report.number), report.number, report.args[0],
             report.args[1], report.args[2], report.args[3]);
}

// A worker has ended: count its calls and say how it ended if not cleanly.
void collect(Slot& slot, int status, WorkerReport& report, Totals& totals) {
    const uint64_t done = __atomic_load_n(&report.calls_done, __ATOMIC_ACQUIRE);
    const bool in_call = __atomic_load_n(&report.in_call, __ATOMIC_ACQUIRE) != 0;
    totals.calls += done + (in_call ? 1 : 0);
    ++totals.workers;
    for (unsigned n = 0; n <= SYS_COUNT; ++n) {
        totals.calls_by_number[n] += report.cost[n].calls;
        totals.cycles_by_number[n] += report.cost[n].cycles;
    }
    char call[160];
    describe_call(report, call, sizeof call);
    if (SABLE_WIFKILLED(status)) {
        ++totals.killed;
        const int reason = SABLE_WKILLREASON(status);
        // Expected: the call in progress was one that may kill (its own kill, a thread at bad
        // code, all of memory asked for), the watchdog's kill, or another worker's brk that took
        // all memory when this one needed a page.
        const bool expected =
            (in_call && report.risky) || report.doomed || slot.stuck || reason == SABLE_KILL_OUT_OF_MEMORY;
        if (expected) {
            ++totals.expected_kills;
        } else {
            ++totals.bugs;
            printf("fuzz: BUG worker seed=0x%lx killed (%s) after %lu calls, %s %s\n", slot.seed,
                   sable_kill_reason_string(reason), done, in_call ? "in" : "after", call);
        }
    } else if (SABLE_WEXITSTATUS(status) == kViolationExit) {
        ++totals.bugs;
        printf("fuzz: BUG worker seed=0x%lx call %lu %s returned %ld: %s (replay: fuzz replay=0x%lx calls=%lu)\n",
               slot.seed, done, call, report.result, report.violation, slot.seed, done + 1);
    } else if (status != 0 || done != slot.budget) {
        ++totals.bugs;
        printf("fuzz: BUG worker seed=0x%lx exited with %d after %lu of %lu calls, last %s\n", slot.seed, status, done,
               slot.budget, call);
    }
    slot.pid = 0;
}

struct Options {
    uint64_t seed = 1, calls = kDefaultCalls, seconds = 0, replay_seed = 0;
    unsigned workers = kDefaultWorkers;
    bool replay = false;
};

int campaign(const Options& options) {
    printf("fuzz: campaign seed=%lu calls=%lu workers=%u%s\n", options.seed, options.calls, options.workers,
           options.seconds ? " (timed)" : "");
    census::Census start{}, before{}, after{};
    if (!census::take(start)) {
        printf("fuzz: FAIL cannot take a census\n");
        return 1;
    }
    void* page =
        mmap(reinterpret_cast<void*>(kReportAddress), kReportBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED);
    if (page == MAP_FAILED) {
        printf("fuzz: FAIL cannot map the report pages: %s\n", strerror(errno));
        return 1;
    }
    memset(page, 0, kReportBytes);  // committed before any fork, so the workers share it (see replay)
    census::warm_up();
    if (!census::settle(start, before, kSettleMs)) {
        printf("fuzz: FAIL the warm-up's tasks were not reaped\n");
        return 1;
    }
    const int self = getpid();
    const uint64_t started_ns = clock_ns();
    const uint64_t end_ns = started_ns + options.seconds * 1000000000ull;
    Slot slots[kMaxWorkers] = {};
    Totals totals;
    uint64_t assigned = 0, next_worker = 0, last_note_ns = started_ns;
    auto more_to_do = [&] { return options.seconds ? clock_ns() < end_ns : assigned < options.calls; };
    for (;;) {
        for (unsigned w = 0; w < options.workers; ++w) {
            // Past a handful of bugs the rest of the log says nothing new.
            constexpr uint64_t kEnoughBugs = 10;
            if (slots[w].pid || !more_to_do() || totals.bugs >= kEnoughBugs) continue;
            Slot& slot = slots[w];
            slot.seed = census::derive_seed(options.seed, next_worker++);
            slot.budget = options.seconds || options.calls - assigned > kCallsPerWorker ? kCallsPerWorker
                                                                                        : options.calls - assigned;
            slot.last_done = 0;
            slot.last_progress_ns = clock_ns();
            slot.stuck = false;
            WorkerReport& report = g_reports[w];
            memset(&report, 0, sizeof report);
            report.seed = slot.seed;
            const int pid = fork();
            if (pid == 0) worker(report, slot.seed, slot.budget, self, false);
            if (pid < 0) {
                printf("fuzz: fork failed: %s; retrying\n", strerror(errno));
                sleep_ms(100);
                continue;
            }
            slot.pid = pid;
            assigned += slot.budget;
        }
        bool running = false;
        for (const Slot& slot : slots) running |= slot.pid != 0;
        if (!running) break;
        int status = 0;
        const int pid = waitpid(-1, &status, SABLE_WNOHANG);
        if (pid > 0) {
            for (unsigned w = 0; w < options.workers; ++w) {
                if (slots[w].pid != pid) continue;
                const uint64_t before_calls = totals.calls;
                collect(slots[w], status, g_reports[w], totals);
                // A worker that ended early leaves its calls to the next one.
                if (!options.seconds) assigned -= slots[w].budget - (totals.calls - before_calls);
            }
            continue;
        }
        const uint64_t now = clock_ns();
        for (unsigned w = 0; w < options.workers; ++w) {
            Slot& slot = slots[w];
            if (!slot.pid || slot.stuck) continue;
            const uint64_t done = __atomic_load_n(&g_reports[w].calls_done, __ATOMIC_ACQUIRE);
            if (done != slot.last_done) {
                slot.last_done = done;
                slot.last_progress_ns = now;
            } else if (now - slot.last_progress_ns > kStuckMs * 1000000ull) {
                slot.stuck = true;
                ++totals.stuck;
                char call[160];
                describe_call(g_reports[w], call, sizeof call);
                printf("fuzz: worker seed=0x%lx stuck for %lu ms after %lu calls, %s %s: killed\n", slot.seed,
                       (now - slot.last_progress_ns) / 1000000, done,
                       __atomic_load_n(&g_reports[w].in_call, __ATOMIC_ACQUIRE) ? "in" : "after", call);
                kill(slot.pid);
            }
        }
        if (now - last_note_ns > 10000000000ull) {
            last_note_ns = now;
            uint64_t in_flight = 0;
            for (unsigned w = 0; w < options.workers; ++w)
                if (slots[w].pid) in_flight += __atomic_load_n(&g_reports[w].calls_done, __ATOMIC_ACQUIRE);
            printf("fuzz: %lu s, %lu calls\n", static_cast<uint64_t>((now - started_ns) / 1000000000ull),
                   totals.calls + in_flight);
        }
        sleep_ms(5);
    }
    const uint64_t elapsed_ms = (clock_ns() - started_ns) / 1000000;
    printf("fuzz: seed=%lu calls=%lu workers=%lu killed=%lu expected_kills=%lu stuck=%lu bugs=%lu ms=%lu\n",
           options.seed, totals.calls, totals.workers, totals.killed, totals.expected_kills, totals.stuck, totals.bugs,
           elapsed_ms);
    print_costs(totals);
    const bool settled = census::settle(before, after, kSettleMs);
    char changes[200];
    const bool conserved = census::frames_conserved(before, after, changes, sizeof changes);
    printf(
        "fuzz: census processes %ld->%ld free=%lu heap=%lu page_table=%lu user=%lu stack=%lu -> free=%lu heap=%lu "
        "page_table=%lu user=%lu stack=%lu: %s%s\n",
        before.processes, after.processes, before.memory.free, before.memory.heap, before.memory.page_table,
        before.memory.user, before.memory.stack, after.memory.free, after.memory.heap, after.memory.page_table,
        after.memory.user, after.memory.stack, conserved && settled ? "conserved" : "CHANGED ",
        conserved ? "" : changes);
    const bool enough = options.seconds || totals.calls >= options.calls;
    if (totals.bugs || totals.stuck || !settled || !conserved || !enough) {
        printf("fuzz: FAIL%s%s%s%s\n", totals.bugs || totals.stuck ? " bugs or hangs" : "",
               settled ? "" : " processes or kernel stacks not back", conserved ? "" : " frames not conserved",
               enough ? "" : " too few calls");
        return 1;
    }
    printf("fuzz: PASS\n");
    return 0;
}

int replay(const Options& options) {
    // The worker writes its report to the same place as in a campaign. Touched before the fork:
    // a MAP_SHARED page not yet committed at fork is committed apart on each side later.
    void* page =
        mmap(reinterpret_cast<void*>(kReportAddress), kReportBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED);
    if (page == MAP_FAILED) {
        printf("fuzz: cannot map the report pages: %s\n", strerror(errno));
        return 1;
    }
    memset(page, 0, kReportBytes);
    const int self = getpid();
    const int pid = fork();
    if (pid == 0) worker(g_reports[0], options.replay_seed, options.calls, self, true);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        printf("fuzz: cannot run the worker: %s\n", strerror(errno));
        return 1;
    }
    char call[160];
    describe_call(g_reports[0], call, sizeof call);
    if (SABLE_WIFKILLED(status))
        printf("fuzz: replay seed=0x%lx killed (%s) after %lu calls, in %s\n", options.replay_seed,
               sable_kill_reason_string(SABLE_WKILLREASON(status)), g_reports[0].calls_done, call);
    else
        printf("fuzz: replay seed=0x%lx exited with %d after %lu calls\n", options.replay_seed, status,
               g_reports[0].calls_done);
    return status == 0 ? 0 : 1;
}

bool parse(int argc, char** argv, Options& options) {
    bool calls_given = false;
    for (int i = 1; i < argc; ++i) {
        const char* word = argv[i];
        const char* equals = strchr(word, '=');
        if (!equals) return false;
        const uint64_t value = strtoul(equals + 1, nullptr, 0);
        const size_t key = static_cast<size_t>(equals - word);
        if (key == 4 && strncmp(word, "seed", 4) == 0)
            options.seed = value;
        else if (key == 5 && strncmp(word, "calls", 5) == 0) {
            options.calls = value;
            calls_given = true;
        } else if (key == 7 && strncmp(word, "workers", 7) == 0)
            options.workers = static_cast<unsigned>(value);
        else if (key == 7 && strncmp(word, "seconds", 7) == 0)
            options.seconds = value;
        else if (key == 6 && strncmp(word, "replay", 6) == 0) {
            options.replay = true;
            options.replay_seed = value;
        } else {
            return false;
        }
    }
    if (options.replay && !calls_given) options.calls = kCallsPerWorker;  // a campaign worker's life
    return options.workers >= 1 && options.workers <= kMaxWorkers;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (!parse(argc, argv, options)) {
        printf("usage: fuzz [seed=S] [calls=N] [workers=1..%u] [seconds=T] | fuzz replay=<worker seed> [calls=N]\n",
               kMaxWorkers);
        return 2;
    }
    return options.replay ? replay(options) : campaign(options);
}
