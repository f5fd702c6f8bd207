// usertest <case>: one system test of the user-space ABI per run. The kernel's test suite spawns
// it once per case and checks the exit status (and, for the fault cases, the kill reason).
// Success prints "usertest: <case>: ok" and exits 0; a failed check prints
// "usertest: <case>: FAIL <what>" and exits 1. A fault case that survives its fault exits 1.
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sable/sys.h>

extern "C" uint64_t __sable_entry_rsp;  // crt0.S: rsp at the first user instruction

namespace {

const char* g_case = "?";

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail(const char* format, ...) {
    char what[256];
    va_list args;
    va_start(args, format);
    vsnprintf(what, sizeof what, format, args);
    va_end(args);
    printf("usertest: %s: FAIL %s\n", g_case, what);
    exit(1);
}

#define CHECK(condition, ...)                 \
    do {                                      \
        if (!(condition)) fail(__VA_ARGS__);  \
    } while (0)

// For calls that must fail: `result` is what the wrapper returned (-1 expected), errno the code.
void expect_error(long result, int expected, const char* what) {
    const int actual = errno;
    if (result != -1 || actual != expected)
        fail("%s: returned %ld errno %d (%s); want -1 errno %d (%s)", what, result, actual,
             strerror(actual), expected, strerror(expected));
}

#define EXPECT_ERROR(call, expected)                       \
    do {                                                   \
        errno = 0;                                         \
        expect_error(static_cast<long>(call), expected, #call); \
    } while (0)

int checked_fork() {
    int pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    return pid;
}

int checked_pipe(int fds[2]) {
    int result = pipe(fds);
    CHECK(result == 0, "pipe: %s", strerror(errno));
    return result;
}

// Waits for `pid` and returns its status.
int wait_for(int pid) {
    int status = -1;
    int reaped = waitpid(pid, &status, 0);
    CHECK(reaped == pid, "waitpid(%d) returned %d (%s)", pid, reaped, strerror(errno));
    return status;
}

void expect_exit(int pid, int code, const char* what) {
    const int status = wait_for(pid);
    CHECK(SABLE_WIFEXITED(status) && SABLE_WEXITSTATUS(status) == code,
          "%s (pid %d): status %d, want exit %d", what, pid, status, code);
}

struct Xorshift64 {
    uint64_t state;
    uint64_t next() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    }
};

// A reproducible stream of pseudo-random bytes: eight per xorshift64 step, low byte first.
struct ByteStream {
    Xorshift64 rng;
    uint64_t word = 0;
    int left = 0;
    uint8_t next() {
        if (left == 0) {
            word = rng.next();
            left = 8;
        }
        const auto byte = static_cast<uint8_t>(word);
        word >>= 8;
        --left;
        return byte;
    }
};

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;
uint64_t fnv1a(uint64_t hash, uint8_t byte) { return (hash ^ byte) * kFnvPrime; }

constexpr size_t kMaxProcesses = 512;
sable_process_info g_processes[kMaxProcesses];

// Looks `pid` up in the process list; false if it is not there.
bool find_process(int pid, sable_process_info* out) {
    long count = process_list(g_processes, kMaxProcesses);
    CHECK(count >= 0, "process_list: %s", strerror(errno));
    const size_t listed = static_cast<size_t>(count) < kMaxProcesses ? static_cast<size_t>(count)
                                                                      : kMaxProcesses;
    for (size_t i = 0; i < listed; ++i) {
        if (g_processes[i].pid == pid) {
            *out = g_processes[i];
            return true;
        }
    }
    return false;
}

// ---- fork ------------------------------------------------------------------------------------

// abi.h: "rcx and r11 are clobbered ...; every other register is preserved". Makes system call
// `number` (no arguments used) with a known value in every register the kernel must keep and
// returns rax; *changed gets a bit per register that came back different (kRegisterNames order).
// For fork this checks the child's registers too: both processes run the comparison. RCX and R11
// are the ABI's to clobber, but what they hold must still be the caller's own: SYSRET leaves the
// return address and RFLAGS there, and so must every other way back (fork's child leaves
// through iretq from a copy of the frame, whose slots for them the entry does not write).
const char* const kRegisterNames[] = {"rdi", "rsi", "rdx", "rbx", "r8", "r9", "r10", "r12",
                                      "r13", "r14", "r15", "rbp", "rcx", "r11"};

// Reached without RBP, which holds the mark during the call (the frame pointer cannot be an
// operand): globals, addressed by absolute or RIP-relative address.
long g_rbp_probe, g_return_rcx, g_return_r11, g_flags_at_call, g_return_address;

[[gnu::noinline]] long syscall_checking_registers(long number, unsigned* changed) {
    constexpr long kMark = 0x5AB1E00000000000;
    long rax = number;
    long rdi = kMark + 0, rsi = kMark + 1, rdx = kMark + 2, rbx = kMark + 3;
    register long r8 __asm__("r8") = kMark + 4;
    register long r9 __asm__("r9") = kMark + 5;
    register long r10 __asm__("r10") = kMark + 6;
    register long r12 __asm__("r12") = kMark + 7;
    register long r13 __asm__("r13") = kMark + 8;
    register long r14 __asm__("r14") = kMark + 9;
    register long r15 __asm__("r15") = kMark + 10;
    g_rbp_probe = kMark + 11;
    // The red zone below RSP may hold the caller's data: step over it for the RFLAGS push.
    // `cmp` fixes the arithmetic flags, so RFLAGS at the `syscall` is the value recorded.
    __asm__ volatile("xchg %%rbp, %[rbp]\n\t"
                     "cmp %%rsp, %%rsp\n\t"
                     "lea -128(%%rsp), %%rsp\n\t"
                     "pushfq\n\t"
                     "popq %[flags]\n\t"
                     "lea 128(%%rsp), %%rsp\n\t"
                     "syscall\n"
                     "1:\n\t"
                     "xchg %%rbp, %[rbp]\n\t"
                     "mov %%rcx, %[rcx]\n\t"
                     "mov %%r11, %[r11]\n\t"
                     "movq $1b, %[address]"
                     : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+b"(rbx), "+r"(r8), "+r"(r9),
                       "+r"(r10), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15), [rbp] "+m"(g_rbp_probe),
                       [flags] "=m"(g_flags_at_call), [rcx] "=m"(g_return_rcx), [r11] "=m"(g_return_r11),
                       [address] "=m"(g_return_address)
                     :
                     : "rcx", "r11", "memory", "cc");
    const long after[] = {rdi, rsi, rdx, rbx, r8, r9, r10, r12, r13, r14, r15, g_rbp_probe};
    *changed = 0;
    for (unsigned i = 0; i < sizeof after / sizeof after[0]; ++i) {
        if (after[i] != kMark + static_cast<long>(i)) *changed |= 1u << i;
    }
    constexpr unsigned kRcx = sizeof after / sizeof after[0], kR11 = kRcx + 1;
    if (g_return_rcx != g_return_address) *changed |= 1u << kRcx;
    if (g_return_r11 != g_flags_at_call) *changed |= 1u << kR11;
    return rax;
}

// "rdi r9" for a mask from syscall_checking_registers.
const char* register_list(unsigned changed) {
    static char text[96];
    size_t used = 0;
    text[0] = '\0';
    for (unsigned i = 0; i < sizeof kRegisterNames / sizeof kRegisterNames[0]; ++i) {
        if ((changed & (1u << i)) != 0 && used < sizeof text)
            used += static_cast<size_t>(snprintf(text + used, sizeof text - used, " %s", kRegisterNames[i]));
    }
    return text;
}

volatile int g_global = 1;

void case_fork() {
    volatile int stack_value = 2;
    auto heap = static_cast<volatile int*>(malloc(sizeof(int)));
    CHECK(heap != nullptr, "malloc: %s", strerror(errno));
    *heap = 3;
    const int parent = getpid();
    int modified[2];
    checked_pipe(modified);

    unsigned changed = 0;
    const long own_pid = syscall_checking_registers(SYS_GETPID, &changed);
    CHECK(own_pid == parent && changed == 0, "getpid returned %ld, changed registers:%s", own_pid,
          register_list(changed));

    const int pid = static_cast<int>(syscall_checking_registers(SYS_FORK, &changed));
    CHECK(pid >= 0, "fork: %s", strerror(-pid));
    if (pid == 0) {
        g_case = "fork (child)";
        CHECK(changed == 0, "registers changed in the child of fork:%s", register_list(changed));
        CHECK(getppid() == parent, "getppid() = %d, want %d", getppid(), parent);
        CHECK(getpid() != parent, "child's getpid() = %d = parent's", getpid());
        CHECK(g_global == 1 && stack_value == 2 && *heap == 3,
              "child sees global %d stack %d heap %d, want 1 2 3", g_global, stack_value, *heap);
        g_global = 100;
        stack_value = 200;
        *heap = 300;
        CHECK(g_global == 100 && stack_value == 200 && *heap == 300,
              "child's writes did not stick: %d %d %d", g_global, stack_value, *heap);
        const char done = 'm';
        CHECK(write(modified[1], &done, 1) == 1, "write: %s", strerror(errno));
        exit(42);
    }
    CHECK(changed == 0, "registers changed in the parent by fork:%s", register_list(changed));
    CHECK(pid != parent, "fork returned the parent's own pid %d", pid);
    close(modified[1]);
    char done = 0;
    const ssize_t got = read(modified[0], &done, 1);
    CHECK(got == 1 && done == 'm', "read from child: %ld (%s)", got, strerror(errno));
    CHECK(g_global == 1, "global changed by the child: %d", g_global);
    CHECK(stack_value == 2, "stack variable changed by the child: %d", stack_value);
    CHECK(*heap == 3, "heap block changed by the child: %d", *heap);
    close(modified[0]);
    expect_exit(pid, 42, "child");
    free(const_cast<int*>(heap));
}

// ---- syscall_at_top ----------------------------------------------------------------------------

// A `syscall` in the last two bytes of the lower half returns to 0x800000000000, which is not
// canonical: SYSRET would fault in ring 0 there, so the kernel returns through iretq from the
// whole frame (completed from the registers at the exit: docs/syscalls.md). The child's next
// fetch then faults in ring 3 and ends it; the kernel goes on.
void case_syscall_at_top() {
    const int pid = checked_fork();
    if (pid == 0) {
        g_case = "syscall_at_top (child)";
        constexpr uintptr_t kPage = 4096, kTop = SABLE_MMAP_TOP;
        void* const at = reinterpret_cast<void*>(kTop - kPage);
        auto* page = static_cast<uint8_t*>(mmap(at, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED));
        CHECK(page == at, "mmap of the last page of the lower half: %s", strerror(errno));
        page[kPage - 2] = 0x0f;  // syscall
        page[kPage - 1] = 0x05;
        CHECK(mprotect(page, kPage, PROT_READ | PROT_EXEC) == 0, "mprotect: %s", strerror(errno));
        __asm__ volatile("jmp *%1" ::"a"(long{SYS_GETPID}), "r"(kTop - 2) : "memory");
        exit(1);
    }
    const int status = wait_for(pid);
    CHECK(!SABLE_WIFEXITED(status) && (SABLE_WKILLREASON(status) == SABLE_KILL_GENERAL_PROTECTION ||
                                       SABLE_WKILLREASON(status) == SABLE_KILL_PAGE_FAULT),
          "child status %d, want killed by the fetch at 0x800000000000", status);
}

// ---- forkbomb --------------------------------------------------------------------------------

void case_forkbomb() {
    constexpr int kSanityLimit = 100000;  // a kernel with no limit at all: stop before the VM dies
    int hold[2];
    checked_pipe(hold);
    int children = 0;
    int error = 0;
    for (;;) {
        const int pid = fork();
        if (pid == 0) {
            // Wait, without using a CPU, until the parent closes the last write end.
            if (close(hold[1]) != 0) exit(2);
            char byte;
            exit(read(hold[0], &byte, 1) == 0 ? 0 : 3);
        }
        if (pid < 0) {
            error = errno;
            break;
        }
        if (++children >= kSanityLimit) break;
    }
    printf("usertest: forkbomb: %d children, then fork failed: %s\n", children,
           error != 0 ? strerror(error) : "(never)");
    close(hold[1]);
    int bad_status = -1;
    int bad_pid = 0;
    for (int i = 0; i < children; ++i) {
        int status = -1;
        const int pid = waitpid(-1, &status, 0);
        CHECK(pid > 0, "waitpid for child %d of %d: %s", i + 1, children, strerror(errno));
        if (status != 0 && bad_pid == 0) {
            bad_pid = pid;
            bad_status = status;
        }
    }
    CHECK(children < kSanityLimit, "fork never failed (%d children)", children);
    CHECK(error == SABLE_EAGAIN || error == SABLE_ENOMEM, "fork failed with errno %d (%s)", error,
          strerror(error));
    CHECK(children >= 10, "only %d children before fork failed", children);
    CHECK(bad_pid == 0, "child %d ended with status %d", bad_pid, bad_status);
    int status;
    EXPECT_ERROR(waitpid(-1, &status, 0), SABLE_ECHILD);
    close(hold[0]);

    const int pid = checked_fork();  // the system must have recovered
    if (pid == 0) exit(0);
    expect_exit(pid, 0, "child forked after the bomb");
}

// ---- pipe ------------------------------------------------------------------------------------

constexpr size_t kTransferBytes = 4u << 20;
constexpr size_t kMaxChunk = 9000;
constexpr uint64_t kStreamSeed = 0x9e3779b97f4a7c15ull;
uint8_t g_chunk[kMaxChunk];

void pipe_blocking_and_eof() {
    int p[2];
    checked_pipe(p);
    const uint64_t start_ns = clock_ns();
    const int pid = checked_fork();
    if (pid == 0) {
        close(p[0]);
        sleep_ms(50);
        exit(write(p[1], "z", 1) == 1 ? 0 : 2);
    }
    close(p[1]);  // from here the child holds the only write end
    char byte = 0;
    const ssize_t got = read(p[0], &byte, 1);
    const uint64_t elapsed_ns = clock_ns() - start_ns;
    CHECK(got == 1 && byte == 'z', "blocking read returned %ld byte %d (%s)", got, byte,
          strerror(errno));
    CHECK(elapsed_ns >= 40'000'000, "read returned after %lu ns; the writer slept 50 ms", elapsed_ns);
    expect_exit(pid, 0, "sleeping writer");
    const ssize_t at_end = read(p[0], &byte, 1);
    CHECK(at_end == 0, "read after the last writer exited returned %ld (%s), want 0", at_end,
          strerror(errno));
    close(p[0]);
}

void pipe_large_transfer() {
    int p[2];
    checked_pipe(p);
    const int pid = checked_fork();
    if (pid == 0) {
        close(p[0]);
        ByteStream stream{Xorshift64{kStreamSeed}};
        Xorshift64 sizes{12345};
        size_t sent = 0;
        while (sent < kTransferBytes) {
            size_t chunk = 1 + sizes.next() % kMaxChunk;
            if (chunk > kTransferBytes - sent) chunk = kTransferBytes - sent;
            for (size_t i = 0; i < chunk; ++i) g_chunk[i] = stream.next();
            for (size_t done = 0; done < chunk;) {
                const ssize_t written = write(p[1], g_chunk + done, chunk - done);
                if (written <= 0) fail("writer: write returned %ld (%s)", written, strerror(errno));
                done += static_cast<size_t>(written);
            }
            sent += chunk;
        }
        exit(0);
    }
    close(p[1]);
    ByteStream expected{Xorshift64{kStreamSeed}};
    Xorshift64 sizes{67890};
    uint64_t received_hash = kFnvOffset;
    size_t received = 0;
    for (;;) {
        const size_t want = 1 + sizes.next() % kMaxChunk;
        const ssize_t got = read(p[0], g_chunk, want);
        CHECK(got >= 0, "read after %zu bytes: %s", received, strerror(errno));
        if (got == 0) break;
        CHECK(static_cast<size_t>(got) <= want, "read(%zu) returned %ld", want, got);
        CHECK(received + static_cast<size_t>(got) <= kTransferBytes,
              "more than %zu bytes arrived", kTransferBytes);
        for (ssize_t i = 0; i < got; ++i) {
            const uint8_t want_byte = expected.next();
            CHECK(g_chunk[i] == want_byte, "byte %zu is %u, want %u", received + i, g_chunk[i],
                  want_byte);
            received_hash = fnv1a(received_hash, g_chunk[i]);
        }
        received += static_cast<size_t>(got);
    }
    CHECK(received == kTransferBytes, "received %zu bytes, want %zu", received, kTransferBytes);
    ByteStream reference{Xorshift64{kStreamSeed}};
    uint64_t reference_hash = kFnvOffset;
    for (size_t i = 0; i < kTransferBytes; ++i) reference_hash = fnv1a(reference_hash, reference.next());
    CHECK(received_hash == reference_hash, "FNV-1a %lx, want %lx", received_hash, reference_hash);
    expect_exit(pid, 0, "writer");
    close(p[0]);
}

void pipe_no_reader() {
    int p[2];
    checked_pipe(p);
    close(p[0]);
    EXPECT_ERROR(write(p[1], "x", 1), SABLE_EPIPE);
    close(p[1]);
}

void case_pipe() {
    pipe_blocking_and_eof();
    pipe_large_transfer();
    pipe_no_reader();
}

// ---- wait ------------------------------------------------------------------------------------

void case_wait() {
    int status = -1;
    EXPECT_ERROR(waitpid(-1, &status, 0), SABLE_ECHILD);

    const int quick = checked_fork();
    if (quick == 0) exit(7);
    sable_process_info info{};
    bool zombie = false;
    // 50 ms is plenty on an idle machine; keep looking for a while on a slow one.
    for (int attempt = 0; attempt < 40 && !zombie; ++attempt) {
        sleep_ms(50);
        CHECK(find_process(quick, &info), "exited child %d missing from process_list before wait",
              quick);
        zombie = info.state == SABLE_PROC_ZOMBIE;
    }
    CHECK(zombie, "child %d state %u after 2 s, want zombie (%d)", quick, info.state,
          SABLE_PROC_ZOMBIE);
    CHECK(info.ppid == getpid(), "zombie's ppid %d, want %d", info.ppid, getpid());
    status = -1;
    const int reaped = waitpid(quick, &status, 0);
    CHECK(reaped == quick, "waitpid(%d) returned %d (%s)", quick, reaped, strerror(errno));
    CHECK(status == 7, "status %d, want 7 (exit 7)", status);
    CHECK(SABLE_WIFEXITED(status) && SABLE_WEXITSTATUS(status) == 7, "status macros disagree");
    CHECK(!find_process(quick, &info), "child %d still listed after waitpid (state %u)", quick,
          info.state);

    const int spinner = checked_fork();
    if (spinner == 0) {
        volatile uint64_t spins = 0;
        for (;;) spins = spins + 1;
    }
    status = -1;
    const int none_yet = waitpid(spinner, &status, SABLE_WNOHANG);
    CHECK(none_yet == 0, "waitpid(WNOHANG) on a running child returned %d (%s), want 0", none_yet,
          strerror(errno));
    CHECK(kill(spinner) == 0, "kill(%d): %s", spinner, strerror(errno));
    status = wait_for(spinner);
    CHECK(SABLE_WIFKILLED(status) && SABLE_WKILLREASON(status) == SABLE_KILL_SIGNAL,
          "killed child's status %d, want %d (killed, reason SABLE_KILL_SIGNAL)", status,
          256 + SABLE_KILL_SIGNAL);

    EXPECT_ERROR(waitpid(getpid() + 100000, &status, 0), SABLE_ECHILD);
}

// ---- stack -----------------------------------------------------------------------------------

// A little under 64 KiB, so a frame with its bookkeeping stays within 16 pages.
constexpr size_t kFrameBytes = 64 * 1024 - 512;
constexpr size_t kPage = 4096;
constexpr uintptr_t kGrowBytes = 19u << 20;

// Makes `p` visible to code the compiler cannot see, so a local array keeps its full size in the
// frame (without this, clang splits a non-escaping array into the few bytes actually touched).
void escape(const volatile void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

uint8_t stack_pattern(unsigned depth, size_t offset) {
    return static_cast<uint8_t>(depth * 31 + offset / kPage * 7 + 1);
}

// Recurses until the frames reach kGrowBytes below `top`, writing every page of every frame on
// the way down and checking it on the way back. Returns the lowest address used.
__attribute__((noinline)) uintptr_t grow_stack(unsigned depth, uintptr_t top) {
    volatile uint8_t frame[kFrameBytes];
    escape(frame);
    for (size_t i = 0; i < kFrameBytes; i += kPage) frame[i] = stack_pattern(depth, i);
    frame[kFrameBytes - 1] = stack_pattern(depth, kFrameBytes - 1);
    // Only the number is returned; the empty asm tells the compiler so (no dangling pointer).
    auto low = reinterpret_cast<uintptr_t>(&frame[0]);
    __asm__("" : "+r"(low));
    const uintptr_t deepest = top - low < kGrowBytes ? grow_stack(depth + 1, top) : low;
    for (size_t i = 0; i < kFrameBytes; i += kPage) {
        CHECK(frame[i] == stack_pattern(depth, i), "frame %u offset %zu reads %u, wrote %u", depth,
              i, frame[i], stack_pattern(depth, i));
    }
    CHECK(frame[kFrameBytes - 1] == stack_pattern(depth, kFrameBytes - 1),
          "frame %u last byte changed", depth);
    return deepest;
}

void case_stack_grow() {
    const auto top = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    CHECK(top > SABLE_STACK_BOTTOM && top <= SABLE_STACK_TOP, "stack at %lx is outside the stack region", top);
    const uintptr_t deepest = grow_stack(0, top);
    CHECK(top - deepest >= kGrowBytes, "only %lu bytes of stack used", top - deepest);
    CHECK(deepest >= SABLE_STACK_BOTTOM, "stack reached %lx, below the region", deepest);
}

// Never returns normally: the frames run into the guard page. The depth bound (64 GiB of stack)
// only exists so the recursion is not infinite in the compiler's eyes.
__attribute__((noinline)) uint64_t overflow_stack(uint64_t depth) {
    volatile uint8_t frame[kFrameBytes];
    escape(frame);
    for (size_t i = 0; i < kFrameBytes; i += kPage) frame[i] = static_cast<uint8_t>(depth);
    if (depth > 1000000) return depth;
    return overflow_stack(depth + 1) + frame[0];
}

void case_stack_overflow() {
    const uint64_t result = overflow_stack(0);
    fail("survived unbounded recursion (%lu)", result);
}

// ---- faults: each must kill the process ------------------------------------------------------

void case_fault_de() {
    volatile int dividend = 1;
    volatile int divisor = 0;
    const int quotient = dividend / divisor;
    fail("survived an integer divide by zero (quotient %d)", quotient);
}

void case_fault_ud() {
    __asm__ volatile("ud2");
    fail("survived ud2");
}

void case_fault_gp() {
    __asm__ volatile("hlt");
    fail("survived hlt in ring 3");
}

void case_fault_int() {
    __asm__ volatile("int $0x80" : : : "memory");
    fail("survived int $0x80");
}

// UMIP: the five instructions that would show ring 3 where the kernel keeps its GDT, IDT, TSS
// and LDT, or its CR0, each in a child that must die of a general protection fault. Exits 3
// when the CPU has no UMIP (CPUID leaf 7, ECX bit 2): they are then allowed to work.
constexpr int kNoUmip = 3;

bool cpu_has_umip() {
    uint32_t eax = 0, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx));
    if (eax < 7) return false;
    eax = 7;
    ecx = 0;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    return (ecx >> 2) & 1;
}

void case_umip() {
    if (!cpu_has_umip()) {
        printf("usertest: umip: this CPU has no UMIP\n");
        exit(kNoUmip);
    }
    struct Instruction {
        const char* name;
        void (*run)();
    };
    static const Instruction kInstructions[] = {
        {"sgdt",
         [] {
             uint8_t table[10];
             __asm__ volatile("sgdt %0" : "=m"(table));
         }},
        {"sidt",
         [] {
             uint8_t table[10];
             __asm__ volatile("sidt %0" : "=m"(table));
         }},
        {"sldt",
         [] {
             uint16_t selector;
             __asm__ volatile("sldt %0" : "=r"(selector));
         }},
        {"smsw",
         [] {
             uint16_t cr0_low;
             __asm__ volatile("smsw %0" : "=r"(cr0_low));
         }},
        {"str",
         [] {
             uint16_t selector;
             __asm__ volatile("str %0" : "=r"(selector));
         }},
    };
    for (const Instruction& instruction : kInstructions) {
        const int pid = checked_fork();
        if (pid == 0) {
            instruction.run();
            printf("usertest: umip: %s ran in ring 3\n", instruction.name);
            exit(1);
        }
        const int status = wait_for(pid);
        CHECK(!SABLE_WIFEXITED(status) && SABLE_WKILLREASON(status) == SABLE_KILL_GENERAL_PROTECTION,
              "%s: child status %d, want killed by a general protection fault", instruction.name, status);
    }
}

// A jump into the main stack's guard page: a page fault on an instruction fetch ("fetch" in the
// kill line), not a stack overflow — the stack pointer is nowhere near the guard.
void case_fetch_guard() {
    const auto target = reinterpret_cast<void (*)()>(SABLE_GUARD_PAGE + 0x100);
    target();
    fail("survived a jump into the stack guard page");
}

void case_fault_pf() {
    *reinterpret_cast<volatile int*>(uintptr_t{0x1000}) = 1;
    fail("survived a write to unmapped 0x1000");
}

void case_fault_kernel() {
    const int value = *reinterpret_cast<volatile int*>(uintptr_t{0x100000});
    fail("read kernel memory at 0x100000: %x", value);
}

void case_fault_noncanonical() {
    const uint64_t value = *reinterpret_cast<volatile uint64_t*>(uintptr_t{0x8000000000000000ull});
    fail("read non-canonical 0x8000000000000000: %lx", value);
}

// ---- efault: bad pointers fail the call, not the process ------------------------------------

char g_valid[64];

// A fresh pipe with 5 bytes waiting, so a read that wrongly passes the check cannot block.
void pipe_with_data(int p[2]) {
    checked_pipe(p);
    CHECK(write(p[1], "12345", 5) == 5, "write to pipe: %s", strerror(errno));
}

void case_efault() {
    const auto kernel = reinterpret_cast<void*>(uintptr_t{0x100000});
    const auto unmapped_heap = reinterpret_cast<void*>(uintptr_t{0x30000000});
    CHECK(reinterpret_cast<uintptr_t>(sbrk(0)) < 0x30000000, "break is above 0x30000000");

    EXPECT_ERROR(write(1, reinterpret_cast<void*>(uintptr_t{0x10}), 5), SABLE_EFAULT);
    EXPECT_ERROR(write(1, kernel, 5), SABLE_EFAULT);
    EXPECT_ERROR(write(1, reinterpret_cast<void*>(uintptr_t{SABLE_USER_TOP - 2}), 100), SABLE_EFAULT);
    EXPECT_ERROR(write(1, g_valid, static_cast<size_t>(-1) / 2), SABLE_EFAULT);
    EXPECT_ERROR(write(1, unmapped_heap, 5), SABLE_EFAULT);

    int p[2];
    pipe_with_data(p);
    EXPECT_ERROR(read(p[0], kernel, 5), SABLE_EFAULT);
    close(p[0]);
    close(p[1]);
    pipe_with_data(p);
    EXPECT_ERROR(read(p[0], unmapped_heap, 5), SABLE_EFAULT);
    close(p[0]);
    close(p[1]);

    EXPECT_ERROR(pipe(static_cast<int*>(kernel)), SABLE_EFAULT);

    const int child = checked_fork();
    if (child == 0) exit(0);
    EXPECT_ERROR(waitpid(child, reinterpret_cast<int*>(uintptr_t{1}), 0), SABLE_EFAULT);
    expect_exit(child, 0, "child waited with a bad status pointer first");

    EXPECT_ERROR(spawn(reinterpret_cast<const char*>(uintptr_t{1}), nullptr, nullptr), SABLE_EFAULT);
    EXPECT_ERROR(spawn("true", reinterpret_cast<const char* const*>(uintptr_t{1}), nullptr),
                 SABLE_EFAULT);
    EXPECT_ERROR(process_list(static_cast<sable_process_info*>(kernel), 4), SABLE_EFAULT);
    EXPECT_ERROR(meminfo(static_cast<sable_meminfo*>(kernel)), SABLE_EFAULT);
    EXPECT_ERROR(cpu_info(static_cast<sable_cpu_info*>(kernel), 4), SABLE_EFAULT);

    // A buffer that starts in user space and runs past its end is refused whole: nothing is
    // written, not even the part below the end (here the top of this program's own stack, where
    // its arguments are). program_list once copied the names that fitted before failing.
    constexpr size_t kTopBytes = 64;
    auto* top = reinterpret_cast<char*>(uintptr_t{SABLE_USER_TOP - kTopBytes});
    char saved[kTopBytes];
    memcpy(saved, top, kTopBytes);
    EXPECT_ERROR(program_list(top, 4096), SABLE_EFAULT);
    CHECK(memcmp(saved, top, kTopBytes) == 0, "program_list wrote below the end of user space");
}

// ---- brk -------------------------------------------------------------------------------------

void brk_grow_and_shrink() {
    constexpr intptr_t kMiB = 1 << 20;
    auto initial = static_cast<uint8_t*>(sbrk(0));
    CHECK(initial != reinterpret_cast<void*>(-1), "sbrk(0): %s", strerror(errno));
    CHECK(sbrk(0) == initial, "sbrk(0) changed between two queries");
    CHECK(reinterpret_cast<uintptr_t>(initial) >= SABLE_USER_BASE &&
              reinterpret_cast<uintptr_t>(initial) < SABLE_GUARD_PAGE,
          "break %p outside the heap area", static_cast<void*>(initial));

    auto grown = static_cast<uint8_t*>(sbrk(kMiB));
    CHECK(grown == initial, "sbrk(1 MiB) returned %p, want the old break %p",
          static_cast<void*>(grown), static_cast<void*>(initial));
    CHECK(sbrk(0) == initial + kMiB, "break after growing is %p, want %p", sbrk(0),
          static_cast<void*>(initial + kMiB));
    auto words = reinterpret_cast<volatile uint64_t*>(initial);
    const size_t word_count = kMiB / sizeof(uint64_t);
    for (size_t i = 0; i < word_count; ++i) words[i] = i * 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < word_count; ++i)
        CHECK(words[i] == i * 0x9e3779b97f4a7c15ull, "heap word %zu lost its value", i);

    auto shrunk = static_cast<uint8_t*>(sbrk(-kMiB / 2));
    CHECK(shrunk == initial + kMiB, "sbrk(-512 KiB) returned %p, want %p",
          static_cast<void*>(shrunk), static_cast<void*>(initial + kMiB));
    CHECK(sbrk(0) == initial + kMiB / 2, "break after shrinking is %p, want %p", sbrk(0),
          static_cast<void*>(initial + kMiB / 2));
    for (size_t i = 0; i < word_count / 2; ++i)
        CHECK(words[i] == i * 0x9e3779b97f4a7c15ull, "heap word %zu lost its value after shrink", i);

    EXPECT_ERROR(brk(reinterpret_cast<void*>(uintptr_t{SABLE_GUARD_PAGE + 4096})), SABLE_ENOMEM);
    EXPECT_ERROR(brk(reinterpret_cast<void*>(uintptr_t{SABLE_STACK_BOTTOM})), SABLE_ENOMEM);
    EXPECT_ERROR(brk(reinterpret_cast<void*>(uintptr_t{SABLE_GUARD_PAGE + 1})), SABLE_ENOMEM);
    EXPECT_ERROR(brk(reinterpret_cast<void*>(uintptr_t{SABLE_USER_TOP})), SABLE_ENOMEM);
    EXPECT_ERROR(reinterpret_cast<intptr_t>(sbrk(static_cast<intptr_t>(SABLE_USER_TOP))),
                 SABLE_ENOMEM);
    CHECK(sbrk(0) == initial + kMiB / 2, "a refused brk moved the break to %p", sbrk(0));

    CHECK(brk(initial) == 0, "brk back to %p: %s", static_cast<void*>(initial), strerror(errno));
    CHECK(sbrk(0) == initial, "break is %p after brk(%p)", sbrk(0), static_cast<void*>(initial));
}

uint8_t fill_byte(uint32_t tag, size_t offset) { return static_cast<uint8_t>(tag + offset * 13); }

struct Allocation {
    uint8_t* pointer;
    size_t size;
    uint32_t tag;
};

void check_allocation(const Allocation& a, const char* when) {
    for (size_t i = 0; i < a.size; ++i)
        CHECK(a.pointer[i] == fill_byte(a.tag, i), "%s: block %p (%zu bytes) byte %zu is %u, want %u",
              when, static_cast<void*>(a.pointer), a.size, i, a.pointer[i], fill_byte(a.tag, i));
}

void fill_allocation(const Allocation& a) {
    for (size_t i = 0; i < a.size; ++i) a.pointer[i] = fill_byte(a.tag, i);
}

void malloc_stress() {
    constexpr int kAllocations = 10000;
    constexpr size_t kSlots = 128;
    static Allocation slots[kSlots];
    Xorshift64 rng{0xC0FFEE};
    int allocations = 0;
    uint32_t next_tag = 1;
    while (allocations < kAllocations) {
        Allocation& slot = slots[rng.next() % kSlots];
        const uint64_t action = rng.next() % 8;
        if (slot.pointer != nullptr && action == 0) {
            // realloc to a new random size; the common prefix must survive.
            const size_t new_size = 1 + rng.next() % 3000;
            auto moved = static_cast<uint8_t*>(realloc(slot.pointer, new_size));
            CHECK(moved != nullptr, "realloc(%zu): %s", new_size, strerror(errno));
            CHECK(reinterpret_cast<uintptr_t>(moved) % 16 == 0, "realloc returned %p", static_cast<void*>(moved));
            Allocation prefix{moved, slot.size < new_size ? slot.size : new_size, slot.tag};
            check_allocation(prefix, "after realloc");
            slot = Allocation{moved, new_size, next_tag++};
            fill_allocation(slot);
            ++allocations;
        } else if (slot.pointer != nullptr) {
            check_allocation(slot, "before free");
            free(slot.pointer);
            slot.pointer = nullptr;
        } else {
            const size_t size = rng.next() % 16 == 0 ? 1 + rng.next() % 32768 : rng.next() % 1024;
            const bool zeroed = action == 1;
            auto p = static_cast<uint8_t*>(zeroed ? calloc(1, size) : malloc(size));
            CHECK(p != nullptr, "malloc(%zu) #%d: %s", size, allocations, strerror(errno));
            CHECK(reinterpret_cast<uintptr_t>(p) % 16 == 0, "malloc(%zu) returned %p", size,
                  static_cast<void*>(p));
            if (zeroed) {
                for (size_t i = 0; i < size; ++i)
                    CHECK(p[i] == 0, "calloc(%zu) byte %zu is %u", size, i, p[i]);
            }
            slot = Allocation{p, size, next_tag++};
            fill_allocation(slot);
            ++allocations;
        }
    }
    for (Allocation& slot : slots) {
        if (slot.pointer == nullptr) continue;
        check_allocation(slot, "at the end");
        free(slot.pointer);
        slot.pointer = nullptr;
    }
    void* a = malloc(0);
    void* b = malloc(0);
    CHECK(a != nullptr && b != nullptr && a != b, "malloc(0) twice: %p %p", a, b);
    free(a);
    free(b);
}

void case_brk() {
    brk_grow_and_shrink();
    malloc_stress();
}

sable_meminfo memory_now() {
    sable_meminfo info{};
    CHECK(meminfo(&info) == 0, "meminfo: %s", strerror(errno));
    return info;
}

// A far break takes no frames: brk to the stack's guard page either succeeds at once, committing
// nothing until a page is touched, or fails at once with ENOMEM when the memory could never
// cover it. Either way the frames stay free for everyone else meanwhile.
void case_brk_far() {
    constexpr uint64_t kPage = 4096;
    // Other CPUs may be finishing the previous case's teardown: a little slack, far below the
    // hundreds of MiB an eager brk took.
    constexpr uint64_t kSlackFrames = 16;
    free(malloc(1));  // malloc's own first growth happens before the counts
    auto initial = static_cast<uint8_t*>(sbrk(0));
    const uint64_t heap_start = (reinterpret_cast<uint64_t>(initial) + kPage - 1) & ~(kPage - 1);
    const sable_meminfo before = memory_now();

    const uint64_t far_pages = (SABLE_GUARD_PAGE - heap_start) / kPage;
    const int result = brk(reinterpret_cast<void*>(uintptr_t{SABLE_GUARD_PAGE}));
    const sable_meminfo after = memory_now();
    CHECK(after.free + kSlackFrames >= before.free, "brk to %#lx took %lu frames",
          static_cast<unsigned long>(SABLE_GUARD_PAGE), before.free - after.free);
    uint64_t top;
    if (far_pages > before.free) {
        CHECK(result == -1 && errno == SABLE_ENOMEM, "brk for %lu pages with %lu free: %d (%s), want ENOMEM",
              far_pages, before.free, result, strerror(errno));
        CHECK(sbrk(0) == initial, "a refused brk moved the break to %p", sbrk(0));
        // What fits is granted, still without a frame.
        top = heap_start + before.free / 2 * kPage;
        CHECK(brk(reinterpret_cast<void*>(top)) == 0, "brk for half the free memory: %s", strerror(errno));
        CHECK(memory_now().free + kSlackFrames >= before.free, "brk for half the free memory took frames");
    } else {
        CHECK(result == 0, "brk to %#lx with %lu free pages for %lu: %s",
              static_cast<unsigned long>(SABLE_GUARD_PAGE), before.free, far_pages, strerror(errno));
        top = SABLE_GUARD_PAGE;
    }

    // A first touch commits exactly that page, zero-filled; the kernel's own copy into an
    // untouched page (a pipe read) commits it the same way.
    auto first = reinterpret_cast<volatile uint8_t*>(heap_start);
    auto middle = reinterpret_cast<volatile uint8_t*>((heap_start + (top - heap_start) / 2) & ~(kPage - 1));
    auto last = reinterpret_cast<volatile uint8_t*>(top - kPage);
    const uint64_t user_before_touch = memory_now().user;
    volatile uint8_t* const touched[] = {first, middle, last};
    for (volatile uint8_t* page : touched) {
        CHECK(page[0] == 0 && page[kPage - 1] == 0, "untouched heap page %p is not zero", (void*)page);
        page[7] = 0x5a;
    }
    int p[2];
    checked_pipe(p);
    CHECK(write(p[1], "lazy", 4) == 4, "write to pipe: %s", strerror(errno));
    auto target = reinterpret_cast<char*>(top - 2 * kPage);
    CHECK(read(p[0], target, 4) == 4 && memcmp(target, "lazy", 4) == 0, "read into an untouched heap page: %s",
          strerror(errno));
    close(p[0]);
    close(p[1]);
    const uint64_t committed = memory_now().user - user_before_touch;
    CHECK(committed == 4, "touching 4 heap pages committed %lu frames", committed);

    // Shrinking gives them back; growing again finds zeroes, not the old contents.
    CHECK(brk(initial) == 0, "brk back to %p: %s", static_cast<void*>(initial), strerror(errno));
    CHECK(memory_now().user == user_before_touch, "shrinking below the touched pages kept frames");
    CHECK(brk(reinterpret_cast<void*>(top)) == 0, "brk again: %s", strerror(errno));
    CHECK(first[7] == 0 && last[7] == 0, "a page regrown below the break kept its old contents");
    CHECK(brk(initial) == 0, "brk back to %p: %s", static_cast<void*>(initial), strerror(errno));
}

// ---- loop ------------------------------------------------------------------------------------

void case_loop() {
    volatile uint64_t spins = 0;
    for (;;) spins = spins + 1;
}

// ---- spawn -----------------------------------------------------------------------------------

void case_spawn() {
    int p[2];
    checked_pipe(p);
    const char* const echo_argv[] = {"echo", "hi", "there", nullptr};
    const int stdio[3] = {0, p[1], 2};
    const int echo = spawn("echo", echo_argv, stdio);
    CHECK(echo > 0, "spawn(echo): %s", strerror(errno));
    close(p[1]);
    char text[64];
    size_t length = 0;
    for (;;) {
        const ssize_t got = read(p[0], text + length, sizeof text - 1 - length);
        CHECK(got >= 0, "read echo's output: %s", strerror(errno));
        if (got == 0 || length + static_cast<size_t>(got) == sizeof text - 1) {
            length += static_cast<size_t>(got);
            break;
        }
        length += static_cast<size_t>(got);
    }
    text[length] = '\0';
    close(p[0]);
    CHECK(strcmp(text, "hi there\n") == 0, "echo wrote \"%s\" (%zu bytes), want \"hi there\\n\"", text,
          length);
    expect_exit(echo, 0, "echo");

    const char* const missing_argv[] = {"no_such_program", nullptr};
    EXPECT_ERROR(spawn("no_such_program", missing_argv, nullptr), SABLE_ENOENT);

    // SABLE_MAX_ARGS entries are accepted; one more is E2BIG.
    const char* many[SABLE_MAX_ARGS + 2];
    many[0] = "true";
    for (int i = 1; i < SABLE_MAX_ARGS + 1; ++i) many[i] = "x";
    many[SABLE_MAX_ARGS + 1] = nullptr;
    errno = 0;
    const int too_many = spawn("true", many, nullptr);
    if (too_many > 0) wait_for(too_many);
    expect_error(too_many, SABLE_E2BIG, "spawn with 33 arguments");
    many[SABLE_MAX_ARGS] = nullptr;
    const int at_limit = spawn("true", many, nullptr);
    CHECK(at_limit > 0, "spawn with %d arguments: %s", SABLE_MAX_ARGS, strerror(errno));
    expect_exit(at_limit, 0, "true with 32 arguments");

    // More argument bytes than SABLE_MAX_ARG_BYTES.
    static char big[SABLE_MAX_ARG_BYTES / 2 + 100];
    memset(big, 'a', sizeof big - 1);
    const char* const big_argv[] = {"true", big, big, nullptr};
    errno = 0;
    const int too_big = spawn("true", big_argv, nullptr);
    if (too_big > 0) wait_for(too_big);
    expect_error(too_big, SABLE_E2BIG, "spawn with more than SABLE_MAX_ARG_BYTES of arguments");
}

// ---- affinity --------------------------------------------------------------------------------

void case_affinity() {
    constexpr size_t kMaxCpusListed = 64;
    static sable_cpu_info cpus[kMaxCpusListed];
    const long count = cpu_info(cpus, kMaxCpusListed);
    CHECK(count >= 1, "cpu_info returned %ld (%s)", count, strerror(errno));
    const size_t listed = static_cast<size_t>(count) < kMaxCpusListed ? static_cast<size_t>(count) : kMaxCpusListed;
    bool cpu63_online = false;
    for (size_t k = 0; k < listed; ++k) {
        const uint32_t cpu = cpus[k].index;
        CHECK(cpu < 64, "cpu_info lists cpu index %u", cpu);
        if (cpu == 63) cpu63_online = true;
        CHECK(set_affinity(uint64_t{1} << cpu) == 0, "set_affinity(cpu %u): %s", cpu, strerror(errno));
        int now = getcpu();
        CHECK(now == static_cast<int>(cpu), "pinned to cpu %u, running on %d", cpu, now);
        for (int i = 0; i < 5; ++i) {
            yield();
            now = getcpu();
            CHECK(now == static_cast<int>(cpu), "pinned to cpu %u, on %d after %d yields", cpu, now,
                  i + 1);
        }
    }
    if (!cpu63_online) EXPECT_ERROR(set_affinity(uint64_t{1} << 63), SABLE_EINVAL);
    CHECK(set_affinity(~uint64_t{0}) == 0, "set_affinity(~0): %s", strerror(errno));
}

// ---- sleep and unknown calls ------------------------------------------------------------------

// A sleep is never early, and late by about one tick only (10 ms at the default 100 Hz). Only
// "never early" is exact: the guest's clock runs with the host's, and a loaded host stalls the
// guest's CPUs (1162 ms was seen for a 1 s sleep beside 3 other QEMUs on 2 cores, 2207 ms at
// -smp 8 with a load of 13 on 2 cores), so the upper bound only catches a sleep that is off by
// an order of magnitude (a wrong unit, a lost wake-up ended by some later event).
void case_sleep() {
    const uint64_t start = clock_ns();
    CHECK(sleep_ms(1000) == 0, "sleep_ms(1000): %s", strerror(errno));
    const uint64_t slept_ms = (clock_ns() - start) / 1000000;
    CHECK(slept_ms >= 1000, "sleep_ms(1000) returned after %lu ms", slept_ms);
    CHECK(slept_ms < 10000, "sleep_ms(1000) took %lu ms", slept_ms);
    printf("usertest: sleep: 1000 ms took %lu ms\n", slept_ms);
    const long unknown = sable_syscall6(999, 0, 0, 0, 0, 0, 0);
    CHECK(unknown == -SABLE_ENOSYS, "call 999 returned %ld, want -ENOSYS", unknown);

    // A kill ends a long sleep at once instead of at its end (or at the next slice of it).
    const int sleeper = checked_fork();
    if (sleeper == 0) exit(sleep_ms(60000) == -1 && errno == SABLE_EINTR ? 0 : 3);
    sable_process_info info{};
    while (find_process(sleeper, &info) && info.state != SABLE_PROC_SLEEPING) yield();
    CHECK(info.state == SABLE_PROC_SLEEPING, "child %d never slept (state %u)", sleeper, info.state);
    const uint64_t kill_ns = clock_ns();
    CHECK(kill(sleeper) == 0, "kill(%d): %s", sleeper, strerror(errno));
    const int status = wait_for(sleeper);
    const uint64_t ended_ms = (clock_ns() - kill_ns) / 1000000;
    CHECK(SABLE_WIFKILLED(status) && SABLE_WKILLREASON(status) == SABLE_KILL_SIGNAL,
          "killed sleeper's status %d, want killed", status);
    // Far below the 60 s sleep: only a kernel that waits out the sleep gets near it.
    CHECK(ended_ms < 10000, "the killed sleeper ended %lu ms after the kill", ended_ms);
    printf("usertest: sleep: a killed 60 s sleeper ended %lu ms after the kill\n", ended_ms);
}

// ---- args ------------------------------------------------------------------------------------

int g_argc;
char** g_argv;

bool on_stack(const void* p) {
    const auto address = reinterpret_cast<uintptr_t>(p);
    return address >= SABLE_STACK_BOTTOM && address < SABLE_STACK_TOP;
}

void case_args() {
    CHECK(__sable_entry_rsp % 16 == 0, "rsp at _start was %lx, not 16-byte aligned", __sable_entry_rsp);
    CHECK(g_argc == 4, "argc %d, want 4 (usertest args alpha beta)", g_argc);
    CHECK(on_stack(g_argv) && reinterpret_cast<uintptr_t>(g_argv) % 8 == 0,
          "argv at %p is not an aligned pointer on the user stack", static_cast<void*>(g_argv));
    for (int i = 0; i < 4; ++i)
        CHECK(g_argv[i] != nullptr && on_stack(g_argv[i]), "argv[%d] = %p is not on the user stack",
              i, static_cast<void*>(g_argv[i]));
    CHECK(strcmp(g_argv[1], "args") == 0, "argv[1] = \"%s\"", g_argv[1]);
    CHECK(strcmp(g_argv[2], "alpha") == 0, "argv[2] = \"%s\", want \"alpha\"", g_argv[2]);
    CHECK(strcmp(g_argv[3], "beta") == 0, "argv[3] = \"%s\", want \"beta\"", g_argv[3]);
    CHECK(g_argv[4] == nullptr, "argv[4] = %p, want NULL", static_cast<void*>(g_argv[4]));
}

// ---- threads ---------------------------------------------------------------------------------

int online_cpus() {
    sable_cpu_info cpus[64];
    const long count = cpu_info(cpus, 64);
    CHECK(count >= 1, "cpu_info: %s", strerror(errno));
    return static_cast<int>(count);
}

int checked_thread(void* (*start)(void*), void* argument) {
    pthread_t thread;
    const int error = pthread_create(&thread, nullptr, start, argument);
    CHECK(error == 0, "pthread_create: %s", strerror(error));
    return thread;
}

void* checked_join(pthread_t thread) {
    void* result = nullptr;
    const int error = pthread_join(thread, &result);
    CHECK(error == 0, "pthread_join(%d): %s", thread, strerror(error));
    return result;
}

// 64 threads in one process, all alive at once (each waits at a barrier), joined in a random
// order, each returning a value only it computes; a counter under a mutex ends exact; each has
// its own errno and its own stack; together they ran on more than one CPU.
constexpr int kManyThreads = 64;
constexpr int kIncrements = 500;
struct ManyShared {
    uint32_t arrived;
    pthread_mutex_t lock;
    uint64_t counter;
    uint64_t cpus_seen;  // bit n: some thread ran on CPU n
} g_many;

void* many_thread(void* argument) {
    const auto index = reinterpret_cast<uintptr_t>(argument);
    int local_on_stack = static_cast<int>(index);
    __atomic_fetch_add(&g_many.arrived, 1, __ATOMIC_ACQ_REL);
    // A barrier: nobody finishes before all have started, so all 64 are alive together.
    while (__atomic_load_n(&g_many.arrived, __ATOMIC_ACQUIRE) < kManyThreads) yield();
    errno = 1000 + static_cast<int>(index);
    for (int i = 0; i < kIncrements; ++i) {
        pthread_mutex_lock(&g_many.lock);
        ++g_many.counter;
        pthread_mutex_unlock(&g_many.lock);
        if (i % 100 == 0) {
            __atomic_fetch_or(&g_many.cpus_seen, uint64_t{1} << (getcpu() & 63), __ATOMIC_RELAXED);
            yield();
        }
    }
    CHECK(errno == 1000 + static_cast<int>(index), "thread %lu: errno %d, want its own %d", index, errno,
          1000 + static_cast<int>(index));
    CHECK(local_on_stack == static_cast<int>(index), "thread %lu: its stack changed", index);
    return reinterpret_cast<void*>(index * 7919 + static_cast<uintptr_t>(gettid()));
}

void case_threads() {
    CHECK(gettid() == 1, "the main thread's tid is %d, want 1", gettid());
    pthread_t threads[kManyThreads];
    for (int i = 0; i < kManyThreads; ++i)
        threads[i] = checked_thread(many_thread, reinterpret_cast<void*>(static_cast<uintptr_t>(i)));
    for (int i = 0; i < kManyThreads; ++i)
        for (int j = 0; j < i; ++j) CHECK(threads[i] != threads[j], "two threads got tid %d", threads[i]);
    // ps-like listing: all of them are ours and alive right now (none passes the barrier yet
    // unless all have arrived; a finished one may be gone, so count at least those not joined).
    static sable_thread_info listed[256];
    const long total = thread_list(listed, 256);
    CHECK(total >= 1, "thread_list: %s", strerror(errno));
    // Joined in a random order.
    int order[kManyThreads];
    for (int i = 0; i < kManyThreads; ++i) order[i] = i;
    Xorshift64 random{0x9E3779B97F4A7C15ull ^ clock_ns()};
    for (int i = kManyThreads - 1; i > 0; --i) {
        const int j = static_cast<int>(random.next() % static_cast<uint64_t>(i + 1));
        const int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < kManyThreads; ++k) {
        const int i = order[k];
        const auto value = reinterpret_cast<uintptr_t>(checked_join(threads[i]));
        CHECK(value == static_cast<uintptr_t>(i) * 7919 + static_cast<uintptr_t>(threads[i]),
              "thread %d (tid %d) returned %lu", i, threads[i], value);
    }
    CHECK(g_many.counter == uint64_t{kManyThreads} * kIncrements, "counter %lu, want %d", g_many.counter,
          kManyThreads * kIncrements);
    const int cpus = online_cpus();
    const int used = __builtin_popcountll(g_many.cpus_seen);
    if (cpus > 1) CHECK(used > 1, "64 threads all ran on one CPU of %d", cpus);
    printf("usertest: threads: %d threads joined in random order, ran on %d of %d CPUs\n", kManyThreads, used, cpus);

    // Join errors: itself, a tid that never was, one already joined.
    uint64_t value;
    EXPECT_ERROR(thread_join(gettid(), &value), SABLE_EDEADLK);
    EXPECT_ERROR(thread_join(100000, &value), SABLE_ESRCH);
    EXPECT_ERROR(thread_join(threads[0], &value), SABLE_ESRCH);
    // Bad entry points and the kernel's half.
    EXPECT_ERROR(thread_create(reinterpret_cast<void (*)(uint64_t)>(0xFFFF800000000000ull), 0), SABLE_EFAULT);
    EXPECT_ERROR(thread_create(reinterpret_cast<void (*)(uint64_t)>(0x1000), 0), SABLE_EFAULT);
    // The listing names this process's threads with distinct tids.
    bool found_self = false;
    for (long i = 0; i < total && i < 256; ++i)
        if (listed[i].pid == getpid() && listed[i].tid == 1) found_self = true;
    CHECK(found_self, "thread_list did not list this process's main thread");
}

// The thread limit: SABLE_MAX_THREADS at once, then EAGAIN; and every slot comes back.
uint32_t g_release_blockers;
void blocker_entry(uint64_t) {
    while (__atomic_load_n(&g_release_blockers, __ATOMIC_ACQUIRE) == 0)
        futex_wait(&g_release_blockers, 0, SABLE_FUTEX_FOREVER);
    thread_exit(0);
}

void case_thread_limit() {
    static int tids[SABLE_MAX_THREADS];
    int created = 0;
    const uint64_t start = clock_ns();
    for (;;) {
        const int tid = thread_create(blocker_entry, 0);
        if (tid < 0) {
            CHECK(errno == SABLE_EAGAIN, "thread %d: %s, want EAGAIN", created + 2, strerror(errno));
            break;
        }
        CHECK(created < SABLE_MAX_THREADS, "more than %d threads", SABLE_MAX_THREADS);
        tids[created++] = tid;
    }
    CHECK(created == SABLE_MAX_THREADS - 1, "%d threads besides main, want %d", created, SABLE_MAX_THREADS - 1);
    __atomic_store_n(&g_release_blockers, 1, __ATOMIC_RELEASE);
    futex_wake(&g_release_blockers, ~0u);
    const uint64_t all_created = clock_ns();
    for (int i = 0; i < created; ++i) CHECK(thread_join(tids[i], nullptr) == 0, "join %d: %s", tids[i], strerror(errno));
    printf("usertest: thread_limit: %d threads created in %lu ms, released and joined in %lu ms\n", created,
           (all_created - start) / 1000000, (clock_ns() - all_created) / 1000000);
    // Every slot is free again.
    g_release_blockers = 0;
    const int again = thread_create(blocker_entry, 0);
    CHECK(again > 0, "a thread after the limit was reached and released: %s", strerror(errno));
    __atomic_store_n(&g_release_blockers, 1, __ATOMIC_RELEASE);
    futex_wake(&g_release_blockers, ~0u);
    CHECK(thread_join(again, nullptr) == 0, "join: %s", strerror(errno));
}

// A thread faults while its siblings spin and sleep: the whole process dies with the fault.
uint32_t g_never;
void spin_entry(uint64_t) {
    volatile uint64_t spins = 0;
    for (;;) spins = spins + 1;
}
void sleep_entry(uint64_t) {
    futex_wait(&g_never, 0, SABLE_FUTEX_FOREVER);
    thread_exit(1);
}
void fault_entry(uint64_t) {
    for (int i = 0; i < 50; ++i) yield();  // let the others get going
    *reinterpret_cast<volatile int*>(0x10) = 1;
    thread_exit(2);
}

void case_thread_fault() {
    const int cpus = online_cpus();
    for (int i = 0; i < cpus; ++i) CHECK(thread_create(spin_entry, 0) > 0, "create: %s", strerror(errno));
    CHECK(thread_create(sleep_entry, 0) > 0, "create: %s", strerror(errno));
    CHECK(thread_create(fault_entry, 0) > 0, "create: %s", strerror(errno));
    uint64_t value;
    thread_join(100000, &value);
    for (;;) futex_wait(&g_never, 0, SABLE_FUTEX_FOREVER);  // killed with the process
}

// A thread runs off the end of its 20 MiB stack: the process dies with "stack overflow".
void overflow_entry(uint64_t) { thread_exit(overflow_stack(0)); }

void case_thread_stack_overflow() {
    const int tid = thread_create(overflow_entry, 0);
    CHECK(tid > 0, "create: %s", strerror(errno));
    thread_join(tid, nullptr);
    fail("survived a thread's stack overflow");
}

// How a process with threads ends: exit() from another thread ends it with that status while
// main waits; the last thread's thread_exit ends it with 0; kill ends every thread.
void exit_seven_entry(uint64_t) {
    for (int i = 0; i < 10; ++i) yield();
    exit(7);
}
void last_one_entry(uint64_t) {
    // Wait until main has left (futex on a word main can no longer change: poll thread_list).
    for (;;) {
        sable_thread_info threads[8];
        const long count = thread_list(threads, 8);
        bool main_alive = false;
        for (long i = 0; i < count && i < 8; ++i)
            if (threads[i].pid == getpid() && threads[i].tid == 1) main_alive = true;
        if (!main_alive) break;
        yield();
    }
    thread_exit(99);
}

void case_thread_exit() {
    const int a = checked_fork();
    if (a == 0) {
        CHECK(thread_create(exit_seven_entry, 0) > 0, "create: %s", strerror(errno));
        for (;;) futex_wait(&g_never, 0, SABLE_FUTEX_FOREVER);
    }
    expect_exit(a, 7, "exit(7) from a second thread");

    const int b = checked_fork();
    if (b == 0) {
        CHECK(thread_create(last_one_entry, 0) > 0, "create: %s", strerror(errno));
        thread_exit(0);
    }
    expect_exit(b, 0, "the last thread's thread_exit");

    const int c = checked_fork();
    if (c == 0) {
        for (int i = 0; i < 4; ++i) thread_create(spin_entry, 0);
        for (int i = 0; i < 4; ++i) thread_create(sleep_entry, 0);
        pthread_t joiner = 0;
        (void)joiner;
        for (;;) futex_wait(&g_never, 0, SABLE_FUTEX_FOREVER);
    }
    // Killed once its threads exist (they may still be starting: kill must reach them too).
    sable_thread_info threads[64];
    for (;;) {
        const long count = thread_list(threads, 64);
        int of_child = 0;
        for (long i = 0; i < count && i < 64; ++i) of_child += threads[i].pid == c;
        if (of_child >= 9) break;
        yield();
    }
    CHECK(kill(c) == 0, "kill: %s", strerror(errno));
    const int status = wait_for(c);
    CHECK(SABLE_WIFKILLED(status) && SABLE_WKILLREASON(status) == SABLE_KILL_SIGNAL,
          "killed threaded process: status %d", status);
}


uint32_t g_helper_stop;
void* spin_and_wait_helper(void*) {
    while (!__atomic_load_n(&g_helper_stop, __ATOMIC_ACQUIRE)) yield();
    return nullptr;
}

void exit_three(uint64_t) { thread_exit(3); }

// fork from a thread: the child has that one thread, as its main thread, on a copy of its stack;
// the other threads' stack slots are free in the child (a new thread there may take them).
void* fork_in_thread(void*) {
    char on_stack[64];
    snprintf(on_stack, sizeof on_stack, "from thread %d", gettid());
    const int child = fork();
    if (child == 0) {
        int threads_of_mine = 0;
        sable_thread_info threads[64];
        const long count = thread_list(threads, 64);
        for (long i = 0; i < count && i < 64; ++i) threads_of_mine += threads[i].pid == getpid();
        if (threads_of_mine != 1) exit(10);
        if (gettid() != 1) exit(11);
        if (strncmp(on_stack, "from thread ", 12) != 0) exit(12);
        errno = 0;
        if (thread_join(5, nullptr) != -1 || errno != SABLE_ESRCH) exit(13);
        for (int i = 0; i < 3; ++i) {  // takes the parent's other threads' slots first
            const int tid = thread_create(exit_three, 0);
            uint64_t value = 0;
            if (tid < 0 || thread_join(tid, &value) != 0 || value != 3) exit(14);
        }
        exit(5);
    }
    return reinterpret_cast<void*>(static_cast<intptr_t>(child));
}

void case_thread_fork() {
    const int helper = checked_thread(spin_and_wait_helper, nullptr);
    const auto child = static_cast<int>(reinterpret_cast<intptr_t>(checked_join(checked_thread(fork_in_thread, nullptr))));
    CHECK(child > 0, "fork in a thread failed");
    expect_exit(child, 5, "the child of a thread's fork");
    __atomic_store_n(&g_helper_stop, 1, __ATOMIC_RELEASE);
    checked_join(helper);
}

// ---- futex -----------------------------------------------------------------------------------

uint32_t g_word;
uint32_t g_woken_count;
void word_waiter(uint64_t) {
    while (__atomic_load_n(&g_word, __ATOMIC_ACQUIRE) == 0) {
        if (futex_wait(&g_word, 0, SABLE_FUTEX_FOREVER) == 0) break;
    }
    __atomic_fetch_add(&g_woken_count, 1, __ATOMIC_ACQ_REL);
    thread_exit(0);
}

struct PingPong {
    uint32_t turn;  // 0: ping's turn, 1: pong's
    uint32_t rounds;
};
PingPong g_ping;
constexpr uint32_t kRounds = 2000;
void pong_entry(uint64_t) {
    for (uint32_t i = 0; i < kRounds; ++i) {
        while (__atomic_load_n(&g_ping.turn, __ATOMIC_ACQUIRE) != 1) futex_wait(&g_ping.turn, 0, SABLE_FUTEX_FOREVER);
        ++g_ping.rounds;
        __atomic_store_n(&g_ping.turn, 0, __ATOMIC_RELEASE);
        futex_wake(&g_ping.turn, 1);
    }
    thread_exit(0);
}

void case_futex() {
    // No waiter: nobody to wake.
    CHECK(futex_wake(&g_word, 1) == 0, "wake with no waiter woke someone");
    // A changed value: returns at once.
    g_word = 5;
    EXPECT_ERROR(futex_wait(&g_word, 4, SABLE_FUTEX_FOREVER), SABLE_EAGAIN);
    // Timeouts: never early.
    const uint64_t start = clock_ns();
    EXPECT_ERROR(futex_wait(&g_word, 5, 50), SABLE_ETIMEDOUT);
    const uint64_t waited_ms = (clock_ns() - start) / 1000000;
    CHECK(waited_ms >= 50, "a 50 ms futex timeout returned after %lu ms", waited_ms);
    EXPECT_ERROR(futex_wait(&g_word, 5, 0), SABLE_ETIMEDOUT);
    // Bad addresses.
    EXPECT_ERROR(futex_wait(reinterpret_cast<uint32_t*>(reinterpret_cast<uintptr_t>(&g_word) + 1), 5, 0), SABLE_EINVAL);
    EXPECT_ERROR(futex_wait(reinterpret_cast<uint32_t*>(0xFFFF800000000000ull), 0, 0), SABLE_EFAULT);
    EXPECT_ERROR(futex_wake(reinterpret_cast<uint32_t*>(0x4000000000ull), 1), SABLE_EFAULT);
    EXPECT_ERROR(futex_wait(reinterpret_cast<uint32_t*>(0x20000000), 0, 0), SABLE_EFAULT);  // unmapped

    // wake(count) wakes at most count: three waiters, woken one and then the rest.
    g_word = 0;
    int waiters[3];
    for (int& tid : waiters) {
        tid = thread_create(word_waiter, 0);
        CHECK(tid > 0, "create: %s", strerror(errno));
    }
    int woken = 0;
    while (woken == 0) {  // until one is asleep on the word and gets woken
        woken = futex_wake(&g_word, 1);
        CHECK(woken == 0 || woken == 1, "wake(1) woke %d", woken);
        if (woken == 0) yield();
    }
    // The woken one goes back to sleep (the word is still 0); the count of wakes is what is checked.
    int total = 1;
    __atomic_store_n(&g_word, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&g_woken_count, __ATOMIC_ACQUIRE) < 3) {
        const int n = futex_wake(&g_word, ~0u);
        CHECK(n >= 0 && n <= 3, "wake(all) woke %d", n);
        total += n;
        yield();
    }
    for (int tid : waiters) CHECK(thread_join(tid, nullptr) == 0, "join: %s", strerror(errno));

    // Ping-pong: two threads hand a turn back and forth, on one CPU and then across CPUs.
    const int cpus = online_cpus();
    for (int round = 0; round < (cpus > 1 ? 2 : 1); ++round) {
        g_ping = {};
        set_affinity(1);  // this thread on CPU 0
        const int pong = thread_create(pong_entry, 0);
        CHECK(pong > 0, "create: %s", strerror(errno));
        if (round == 1) set_affinity(2);  // now apart: CPU 1 (pong stays on CPU 0)
        for (uint32_t i = 0; i < kRounds; ++i) {
            __atomic_store_n(&g_ping.turn, 1, __ATOMIC_RELEASE);
            futex_wake(&g_ping.turn, 1);
            while (__atomic_load_n(&g_ping.turn, __ATOMIC_ACQUIRE) != 0) futex_wait(&g_ping.turn, 1, SABLE_FUTEX_FOREVER);
        }
        CHECK(thread_join(pong, nullptr) == 0, "join: %s", strerror(errno));
        CHECK(g_ping.rounds == kRounds, "%u rounds, want %u", g_ping.rounds, kRounds);
        set_affinity(~0ull);
    }
    printf("usertest: futex: 3 waiters woken (%d by wake calls), ping-pong %u rounds on %s\n", total, kRounds,
           cpus > 1 ? "one CPU and across two" : "one CPU");
}

// A bounded queue with a mutex and two condition variables: producers on every CPU, consumers
// on every CPU, every item consumed exactly once.
constexpr int kQueueSize = 8;
constexpr int kItemsPerProducer = 400;
struct Queue {
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER, not_full = PTHREAD_COND_INITIALIZER;
    uint64_t items[kQueueSize];
    int head = 0, count = 0;
    uint64_t consumed_sum = 0, consumed = 0;
} g_queue;

void* producer(void* argument) {
    const auto base = reinterpret_cast<uintptr_t>(argument) * 100000;
    for (int i = 1; i <= kItemsPerProducer; ++i) {
        pthread_mutex_lock(&g_queue.lock);
        while (g_queue.count == kQueueSize) pthread_cond_wait(&g_queue.not_full, &g_queue.lock);
        g_queue.items[(g_queue.head + g_queue.count) % kQueueSize] = base + static_cast<uint64_t>(i);
        ++g_queue.count;
        pthread_cond_signal(&g_queue.not_empty);
        pthread_mutex_unlock(&g_queue.lock);
    }
    return nullptr;
}

void* consumer(void* argument) {
    const auto total = reinterpret_cast<uintptr_t>(argument);
    for (;;) {
        pthread_mutex_lock(&g_queue.lock);
        while (g_queue.count == 0 && g_queue.consumed < total) pthread_cond_wait(&g_queue.not_empty, &g_queue.lock);
        if (g_queue.consumed == total) {
            pthread_cond_broadcast(&g_queue.not_empty);
            pthread_mutex_unlock(&g_queue.lock);
            return nullptr;
        }
        g_queue.consumed_sum += g_queue.items[g_queue.head];
        g_queue.head = (g_queue.head + 1) % kQueueSize;
        --g_queue.count;
        ++g_queue.consumed;
        if (g_queue.consumed == total) pthread_cond_broadcast(&g_queue.not_empty);
        pthread_cond_signal(&g_queue.not_full);
        pthread_mutex_unlock(&g_queue.lock);
    }
}

void case_condvar() {
    const int cpus = online_cpus();
    const int producers = cpus < 2 ? 2 : cpus, consumers = producers;
    const uintptr_t total = static_cast<uintptr_t>(producers) * kItemsPerProducer;
    pthread_t threads[128];
    int count = 0;
    for (int p = 0; p < producers; ++p)
        threads[count++] = checked_thread(producer, reinterpret_cast<void*>(static_cast<uintptr_t>(p + 1)));
    for (int c = 0; c < consumers; ++c) threads[count++] = checked_thread(consumer, reinterpret_cast<void*>(total));
    for (int i = 0; i < count; ++i) checked_join(threads[i]);
    uint64_t want = 0;
    for (int p = 1; p <= producers; ++p)
        want += static_cast<uint64_t>(p) * 100000 * kItemsPerProducer + uint64_t{kItemsPerProducer} * (kItemsPerProducer + 1) / 2;
    CHECK(g_queue.consumed == total && g_queue.consumed_sum == want, "consumed %lu items summing %lu, want %lu summing %lu",
          g_queue.consumed, g_queue.consumed_sum, static_cast<uint64_t>(total), want);
}

// ---- anonymous memory ------------------------------------------------------------------------

// The heap's first growth (64 KiB of brk, at the first malloc, e.g. pthread_create's start
// block) happens before a frame count is taken, so the count sees only what the test changes.
void grow_heap_first() { free(malloc(1)); }

uint64_t user_frames() {
    sable_meminfo info{};
    CHECK(meminfo(&info) == 0, "meminfo: %s", strerror(errno));
    return info.user;
}

// Runs `body` in a forked child and returns its wait status (for accesses that must kill).
int status_of_child(void (*body)(void*), void* argument) {
    const int child = checked_fork();
    if (child == 0) {
        body(argument);
        exit(0);
    }
    return wait_for(child);
}

void expect_child_killed(void (*body)(void*), void* argument, int reason, const char* what) {
    const int status = status_of_child(body, argument);
    CHECK(SABLE_WIFKILLED(status) && SABLE_WKILLREASON(status) == reason, "%s: status %d, want killed (%d)", what,
          status, reason);
}

void write_byte(void* address) { *static_cast<volatile char*>(address) = 1; }
void read_byte(void* address) { (void)*static_cast<volatile char*>(address); }

// mprotect over a region of most of the mmap window (mmap only records it) with pages committed
// at both ends: only the committed pages change, and the call must not walk the empty terabytes
// between them page by page (found by fuzz: with interrupts off, that held a CPU for hours).
void case_mprotect_huge() {
    constexpr size_t kLength = 64ull << 40;  // 64 TiB
    auto* base = static_cast<uint8_t*>(mmap(nullptr, kLength, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    CHECK(base != MAP_FAILED, "mmap of 64 TiB: %s", strerror(errno));
    uint8_t* last = base + kLength - 4096;
    base[0] = 0x5a;
    last[0] = 0xa5;
    CHECK(mprotect(base, kLength, PROT_READ) == 0, "mprotect read-only: %s", strerror(errno));
    CHECK(base[0] == 0x5a && last[0] == 0xa5, "pages changed under mprotect");
    CHECK(mprotect(base, kLength, PROT_READ | PROT_WRITE) == 0, "mprotect writable: %s", strerror(errno));
    base[1] = 1;
    last[1] = 2;
    CHECK(munmap(base, kLength) == 0, "munmap: %s", strerror(errno));
}

void case_mmap() {
    constexpr size_t kPage = 4096;
    const uint64_t frames_before = user_frames();
    // Zero-filled, committed on first touch, at a page boundary in the mmap window.
    auto* p = static_cast<uint8_t*>(mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    const auto at = reinterpret_cast<uintptr_t>(p);
    CHECK(at % kPage == 0 && at >= SABLE_MMAP_BASE && at < SABLE_MMAP_TOP, "mmap returned %p", static_cast<void*>(p));
    CHECK(user_frames() == frames_before, "mmap committed pages before any touch");
    for (size_t i = 0; i < 3 * kPage; ++i) CHECK(p[i] == 0, "byte %zu of fresh memory is %u", i, p[i]);
    for (size_t i = 0; i < 3 * kPage; ++i) p[i] = static_cast<uint8_t>(i * 7);
    CHECK(user_frames() == frames_before + 3, "3 touched pages: %lu frames more", user_frames() - frames_before);

    // Unmapping the middle page splits the region: its neighbours keep their bytes, it faults.
    CHECK(munmap(p + kPage, kPage) == 0, "munmap middle: %s", strerror(errno));
    for (size_t i = 0; i < kPage; ++i) CHECK(p[i] == static_cast<uint8_t>(i * 7), "first page changed at %zu", i);
    for (size_t i = 2 * kPage; i < 3 * kPage; ++i) CHECK(p[i] == static_cast<uint8_t>(i * 7), "last page changed");
    expect_child_killed(read_byte, p + kPage, SABLE_KILL_PAGE_FAULT, "reading an unmapped page");

    // Read-only: reads work, a write kills; writable again: writes work.
    CHECK(mprotect(p, kPage, PROT_READ) == 0, "mprotect R: %s", strerror(errno));
    CHECK(p[5] == 35, "read after mprotect R: %u", p[5]);
    expect_child_killed(write_byte, p, SABLE_KILL_PAGE_FAULT, "writing a read-only page");
    CHECK(mprotect(p, kPage, PROT_READ | PROT_WRITE) == 0, "mprotect RW: %s", strerror(errno));
    p[5] = 99;
    CHECK(p[5] == 99, "write after mprotect RW");
    // No access at all, then back.
    CHECK(mprotect(p, kPage, PROT_NONE) == 0, "mprotect NONE: %s", strerror(errno));
    expect_child_killed(read_byte, p, SABLE_KILL_PAGE_FAULT, "reading a PROT_NONE page");
    CHECK(mprotect(p, kPage, PROT_READ) == 0, "mprotect back to R: %s", strerror(errno));
    CHECK(p[5] == 99, "a PROT_NONE page lost its contents");

    // Bad arguments: clear errors, never a crash.
    EXPECT_ERROR(reinterpret_cast<intptr_t>(mmap(nullptr, 0, PROT_READ, MAP_PRIVATE)), SABLE_EINVAL);
    EXPECT_ERROR(reinterpret_cast<intptr_t>(mmap(nullptr, kPage, PROT_WRITE | PROT_EXEC, MAP_PRIVATE)), SABLE_EINVAL);
    EXPECT_ERROR(reinterpret_cast<intptr_t>(mmap(nullptr, kPage, PROT_READ, 0)), SABLE_EINVAL);
    EXPECT_ERROR(reinterpret_cast<intptr_t>(mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_SHARED)), SABLE_EINVAL);
    EXPECT_ERROR(reinterpret_cast<intptr_t>(mmap(nullptr, kPage, 8, MAP_PRIVATE)), SABLE_EINVAL);
    EXPECT_ERROR(reinterpret_cast<intptr_t>(mmap(p + 1, kPage, PROT_READ, MAP_PRIVATE | MAP_FIXED)), SABLE_EINVAL);
    EXPECT_ERROR(reinterpret_cast<intptr_t>(mmap(p, kPage, PROT_READ, MAP_PRIVATE | MAP_FIXED)), SABLE_EINVAL);
    EXPECT_ERROR(reinterpret_cast<intptr_t>(mmap(reinterpret_cast<void*>(0x10000000), kPage, PROT_READ, MAP_PRIVATE | MAP_FIXED)),
                 SABLE_EINVAL);
    EXPECT_ERROR(reinterpret_cast<intptr_t>(mmap(nullptr, ~size_t{0} - 10, PROT_READ, MAP_PRIVATE)), SABLE_ENOMEM);
    EXPECT_ERROR(munmap(p + 1, kPage), SABLE_EINVAL);
    EXPECT_ERROR(munmap(reinterpret_cast<void*>(0x08000000), kPage), SABLE_EINVAL);
    EXPECT_ERROR(mprotect(p + kPage, kPage, PROT_READ), SABLE_ENOMEM);  // the hole
    EXPECT_ERROR(mprotect(p, kPage, PROT_WRITE | PROT_EXEC), SABLE_EINVAL);
    CHECK(munmap(p + 7 * kPage, kPage) == 0, "munmap of nothing: %s", strerror(errno));

    // A fixed place and a hint are honoured.
    const uintptr_t wanted = SABLE_MMAP_BASE + (uintptr_t{1} << 32);
    void* fixed = mmap(reinterpret_cast<void*>(wanted), kPage, PROT_READ, MAP_PRIVATE | MAP_FIXED);
    CHECK(reinterpret_cast<uintptr_t>(fixed) == wanted, "MAP_FIXED gave %p", fixed);
    void* hinted = mmap(reinterpret_cast<void*>(wanted + 16 * kPage), kPage, PROT_READ, MAP_PRIVATE);
    CHECK(reinterpret_cast<uintptr_t>(hinted) == wanted + 16 * kPage, "the free hint gave %p", hinted);
    CHECK(munmap(fixed, kPage) == 0 && munmap(hinted, kPage) == 0, "munmap: %s", strerror(errno));

    // A large malloc comes from mmap and goes back with free.
    auto* big = static_cast<uint8_t*>(malloc(1 << 20));
    CHECK(big != nullptr, "malloc(1 MiB): %s", strerror(errno));
    CHECK(reinterpret_cast<uintptr_t>(big) >= SABLE_MMAP_BASE, "malloc(1 MiB) at %p, not mapped", static_cast<void*>(big));
    memset(big, 0x5A, 1 << 20);
    big = static_cast<uint8_t*>(realloc(big, 2 << 20));
    CHECK(big != nullptr && big[(1 << 20) - 1] == 0x5A, "realloc of a mapped block lost its contents");
    free(big);

    CHECK(munmap(p, 3 * kPage) == 0, "munmap all: %s", strerror(errno));
    CHECK(user_frames() == frames_before, "frames: %lu before, %lu after unmapping everything", frames_before,
          user_frames());
}

// mmap/munmap churn in threads on every CPU at once: every frame comes back.
void* churn(void* argument) {
    const auto seed = reinterpret_cast<uintptr_t>(argument);
    Xorshift64 random{seed * 0x9E3779B97F4A7C15ull + 1};
    for (int round = 0; round < 200; ++round) {
        const size_t pages = 1 + random.next() % 8;
        auto* p = static_cast<uint64_t*>(mmap(nullptr, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE));
        CHECK(p != MAP_FAILED, "churn mmap: %s", strerror(errno));
        for (size_t i = 0; i < pages; ++i) p[i * 512] = seed + i;
        for (size_t i = 0; i < pages; ++i) CHECK(p[i * 512] == seed + i, "churn: page %zu of thread %lu changed", i, seed);
        // Sometimes unmap only its last page, then the rest (not the whole range again: another
        // thread may have mapped the freed page meanwhile).
        if (pages > 2 && random.next() % 2) {
            CHECK(munmap(p + (pages - 1) * 512, 4096) == 0, "churn partial munmap: %s", strerror(errno));
            CHECK(munmap(p, (pages - 1) * 4096) == 0, "churn munmap rest: %s", strerror(errno));
        } else {
            CHECK(munmap(p, pages * 4096) == 0, "churn munmap: %s", strerror(errno));
        }
        if (round % 20 == 0) yield();
    }
    return nullptr;
}

void case_mmap_threads() {
    grow_heap_first();
    const uint64_t frames_before = user_frames();
    const int cpus = online_cpus();
    const int count = cpus < 2 ? 2 : 2 * cpus;
    pthread_t threads[64];
    for (int i = 0; i < count && i < 64; ++i) threads[i] = checked_thread(churn, reinterpret_cast<void*>(uintptr_t(i + 1)));
    for (int i = 0; i < count && i < 64; ++i) checked_join(threads[i]);
    // Joined threads' stacks are gone too: the same frames as before.
    CHECK(user_frames() == frames_before, "frames: %lu before, %lu after the churn", frames_before, user_frames());
}

// TLB shootdown: threads on every CPU keep reading one page while another thread replaces it
// (unmap, let another mapping take the freed frame and fill it with poison, map the page again
// with the next pattern). A reader that ever sees poison or an old pattern read through a stale
// translation: the shootdown did not reach its CPU.
constexpr uint64_t kPoison = 0xDEADDEADDEADDEADull;
struct Replaced {
    uint64_t* page;
    uint64_t generation;  // odd while the page is being replaced: readers keep off
    uint32_t reading[64]; // a reader is between its two generation checks
    uint32_t stop;
    uint64_t reads[64];
} g_replaced;

uint64_t pattern_of(uint64_t generation) { return 0x1000 + generation; }

void* replaced_reader(void* argument) {
    const auto index = reinterpret_cast<uintptr_t>(argument);
    while (!__atomic_load_n(&g_replaced.stop, __ATOMIC_ACQUIRE)) {
        const uint64_t generation = __atomic_load_n(&g_replaced.generation, __ATOMIC_ACQUIRE);
        if (generation & 1) {
            yield();  // the writer is replacing the page: let it run
            continue;
        }
        __atomic_store_n(&g_replaced.reading[index], 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&g_replaced.generation, __ATOMIC_SEQ_CST) != generation) {
            __atomic_store_n(&g_replaced.reading[index], 0, __ATOMIC_RELEASE);
            continue;
        }
        const uint64_t value = *static_cast<volatile uint64_t*>(g_replaced.page + (index % 512));
        __atomic_store_n(&g_replaced.reading[index], 0, __ATOMIC_RELEASE);
        CHECK(value == pattern_of(generation), "reader %lu read %lx in generation %lu (want %lx)%s", index, value,
              generation, pattern_of(generation), value == kPoison ? ": a freed frame" : ": a stale frame");
        __atomic_store_n(&g_replaced.reads[index], g_replaced.reads[index] + 1, __ATOMIC_RELEASE);
        // Now and then let the writer run if it shares this CPU (it waits for these reads).
        if (g_replaced.reads[index] % 64 == 0) yield();
    }
    return nullptr;
}

void case_shootdown() {
    const int cpus = online_cpus();
    const int readers = cpus < 2 ? 2 : cpus > 16 ? 16 : cpus;
    auto* page = static_cast<uint64_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    CHECK(page != MAP_FAILED, "mmap: %s", strerror(errno));
    for (int i = 0; i < 512; ++i) page[i] = pattern_of(0);
    g_replaced.page = page;
    grow_heap_first();
    const uint64_t frames_before = user_frames();
    pthread_t threads[16];
    for (int i = 0; i < readers; ++i) threads[i] = checked_thread(replaced_reader, reinterpret_cast<void*>(uintptr_t(i)));
    constexpr int kGenerations = 300;
    for (int g = 1; g <= kGenerations; ++g) {
        __atomic_store_n(&g_replaced.generation, uint64_t(2 * g - 1), __ATOMIC_SEQ_CST);  // keep off
        for (int i = 0; i < readers; ++i)
            while (__atomic_load_n(&g_replaced.reading[i], __ATOMIC_SEQ_CST)) yield();
        CHECK(munmap(page, 4096) == 0, "munmap: %s", strerror(errno));
        // The freed frame goes to another mapping, filled with poison.
        auto* other = static_cast<uint64_t*>(mmap(page + 512 * 256, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE));
        CHECK(other != MAP_FAILED, "mmap other: %s", strerror(errno));
        for (int i = 0; i < 512; ++i) other[i] = kPoison;
        void* again = mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED);
        CHECK(again == page, "remap at %p gave %p (%s)", static_cast<void*>(page), again, strerror(errno));
        for (int i = 0; i < 512; ++i) page[i] = pattern_of(uint64_t(2 * g));
        uint64_t reads_before[16];
        for (int i = 0; i < readers; ++i) reads_before[i] = __atomic_load_n(&g_replaced.reads[i], __ATOMIC_ACQUIRE);
        __atomic_store_n(&g_replaced.generation, uint64_t(2 * g), __ATOMIC_SEQ_CST);
        // Every reader reads the new page (and would see poison through a stale entry) while the
        // poison is still mapped elsewhere; then the next round.
        for (int i = 0; i < readers; ++i)
            while (__atomic_load_n(&g_replaced.reads[i], __ATOMIC_ACQUIRE) < reads_before[i] + 2) yield();
        CHECK(munmap(other, 4096) == 0, "munmap other: %s", strerror(errno));
    }
    __atomic_store_n(&g_replaced.stop, 1, __ATOMIC_RELEASE);
    uint64_t reads = 0;
    for (int i = 0; i < readers; ++i) {
        checked_join(threads[i]);
        reads += g_replaced.reads[i];
    }
    CHECK(munmap(page, 4096) == 0, "munmap: %s", strerror(errno));
    CHECK(user_frames() + 1 == frames_before, "frames: %lu before, %lu after", frames_before, user_frames());
    printf("usertest: shootdown: %d replacements under %d readers on %d CPUs, %lu checked reads\n", kGenerations, readers,
           cpus, reads);
}

// ---- copy-on-write fork ------------------------------------------------------------------------

uint64_t shared_frames() {
    sable_meminfo info{};
    CHECK(meminfo(&info) == 0, "meminfo: %s", strerror(errno));
    return info.shared;
}

// Both sides write after fork: each sees only its own writes, and the untouched half stays shared.
void case_cow() {
    constexpr size_t kWords = 16 * 512;  // 16 pages
    auto* data = static_cast<uint64_t*>(mmap(nullptr, kWords * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    CHECK(data != MAP_FAILED, "mmap: %s", strerror(errno));
    for (size_t i = 0; i < kWords; ++i) data[i] = i;
    const uint64_t shared_before = shared_frames();
    int to_parent[2], to_child[2];
    checked_pipe(to_parent);
    checked_pipe(to_child);
    const int child = checked_fork();
    if (child == 0) {
        // Freshly forked: our pages are shared with the parent.
        const bool shared = shared_frames() >= shared_before + 16;
        for (size_t i = 0; i < kWords / 2; ++i) data[i] = 1000000 + i;  // our half
        char go = shared ? 'y' : 'n';
        write(to_parent[1], &go, 1);
        read(to_child[0], &go, 1);  // the parent has written its half
        for (size_t i = 0; i < kWords / 2; ++i)
            if (data[i] != 1000000 + i) exit(20);
        for (size_t i = kWords / 2; i < kWords; ++i)
            if (data[i] != i) exit(21);  // the parent's writes must not show here
        exit(shared ? 0 : 22);
    }
    char go;
    CHECK(read(to_parent[0], &go, 1) == 1, "child did not report");
    for (size_t i = kWords / 2; i < kWords; ++i) data[i] = 2000000 + i;  // our half
    for (size_t i = 0; i < kWords / 2; ++i) CHECK(data[i] == i, "the child's write showed in the parent at %zu", i);
    write(to_child[1], &go, 1);
    expect_exit(child, 0, "the copy-on-write child");
    for (size_t i = kWords / 2; i < kWords; ++i) CHECK(data[i] == 2000000 + i, "the parent's half changed");
    // With the child gone its references went back: the parent's remaining shared frames become
    // writable on their next write without a copy.
    for (size_t i = 0; i < kWords / 2; ++i) data[i] = 3;
    CHECK(munmap(data, kWords * 8) == 0, "munmap: %s", strerror(errno));
    close(to_parent[0]);
    close(to_parent[1]);
    close(to_child[0]);
    close(to_child[1]);
}

// Copy-on-write promised more than there is: three children each copy a third of free memory
// while the parent keeps the originals and each child holds its copies until all are through.
// At least one copy finds no frame: that child dies with "out of memory"; the others, the
// parent and the kernel go on, and every frame comes back (the suite's leak check).
void case_cow_oom() {
    sable_meminfo info{};
    CHECK(meminfo(&info) == 0, "meminfo: %s", strerror(errno));
    const size_t pages = info.free / 3;
    auto* data = static_cast<uint8_t*>(mmap(nullptr, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    CHECK(data != MAP_FAILED, "mmap %zu pages: %s", pages, strerror(errno));
    auto* done = static_cast<uint32_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED));
    CHECK(done != MAP_FAILED, "mmap shared: %s", strerror(errno));
    for (size_t i = 0; i < pages; ++i) data[i * 4096] = 1;
    *done = 0;  // committed before the fork, so the children share this frame
    // The children start copying at the end of file on `start`, once every fork is made (or the
    // parent is gone): a child copying early could take the memory the next fork needs, and
    // that fork's ENOMEM (correct, but not what this case tests) failed the case on a loaded host.
    int start[2], hold[2];
    checked_pipe(start);
    checked_pipe(hold);
    constexpr int kChildren = 3;
    int pids[kChildren];
    for (int& pid : pids) {
        pid = checked_fork();
        if (pid == 0) {
            close(hold[1]);
            close(start[1]);
            char go;
            if (read(start[0], &go, 1) != 0) exit(3);
            for (size_t i = 0; i < pages; ++i) data[i * 4096] = 2;  // a copy per page
            __atomic_fetch_add(done, 1, __ATOMIC_ACQ_REL);
            char byte;
            exit(read(hold[0], &byte, 1) == 0 ? 0 : 1);  // keep the copies until released
        }
    }
    close(hold[0]);
    close(start[0]);
    close(start[1]);  // go
    int out_of_memory = 0, finished = 0, ended = 0;
    while (__atomic_load_n(done, __ATOMIC_ACQUIRE) + out_of_memory < kChildren) {
        int status;
        const int pid = waitpid(-1, &status, SABLE_WNOHANG);
        CHECK(pid >= 0, "waitpid: %s", strerror(errno));
        if (pid == 0) {
            yield();
            continue;
        }
        ++ended;
        CHECK(SABLE_WIFKILLED(status) && SABLE_WKILLREASON(status) == SABLE_KILL_OUT_OF_MEMORY,
              "child %d ended with status %d before it was released", pid, status);
        ++out_of_memory;
    }
    close(hold[1]);  // release the ones that got all their copies
    for (; ended < kChildren; ++ended) {
        int status;
        const int pid = waitpid(-1, &status, 0);
        CHECK(pid > 0, "waitpid: %s", strerror(errno));
        if (status == 0) ++finished;
        else CHECK(SABLE_WIFKILLED(status) && SABLE_WKILLREASON(status) == SABLE_KILL_OUT_OF_MEMORY, "child %d: status %d", pid, status);
        if (status != 0) ++out_of_memory;
    }
    CHECK(out_of_memory >= 1, "%d children copied %zu pages each out of %lu free: none ran out", kChildren, pages,
          info.free);
    CHECK(data[0] == 1 && data[(pages - 1) * 4096] == 1, "the parent's pages changed");
    printf("usertest: cow_oom: %d of %d children ran out of memory copying %zu pages each; %d finished\n",
           out_of_memory, kChildren, pages, finished);
    CHECK(munmap(data, pages * 4096) == 0 && munmap(done, 4096) == 0, "munmap: %s", strerror(errno));
}

// MAP_SHARED memory stays shared with a fork child; MAP_PRIVATE memory does not.
void case_cow_shared() {
    auto* shared = static_cast<volatile uint64_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED));
    auto* own = static_cast<volatile uint64_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    CHECK(shared != MAP_FAILED && own != MAP_FAILED, "mmap: %s", strerror(errno));
    *shared = 1;
    *own = 1;
    const int child = checked_fork();
    if (child == 0) {
        *shared = 42;
        *own = 42;
        // Read-only and writable again: still the shared frame, not a private copy.
        if (mprotect(const_cast<uint64_t*>(shared), 4096, PROT_READ) != 0) exit(1);
        if (mprotect(const_cast<uint64_t*>(shared), 4096, PROT_READ | PROT_WRITE) != 0) exit(2);
        *shared = 43;
        exit(0);
    }
    expect_exit(child, 0, "the child writing shared and private memory");
    CHECK(*shared == 43, "MAP_SHARED: the child's writes did not show (%lu)", *shared);
    CHECK(*own == 1, "MAP_PRIVATE: the child's write showed (%lu)", *own);
}

// A process with threads forks while another of its threads keeps writing: the child's copy is
// the state at the fork and never changes afterwards (the writer's CPU lost its writable entry).
struct Writer {
    volatile uint64_t* counter;
    uint32_t stop;
};
Writer g_writer;
void* keep_writing(void*) {
    while (!__atomic_load_n(&g_writer.stop, __ATOMIC_ACQUIRE)) *g_writer.counter = *g_writer.counter + 1;
    return nullptr;
}

void case_cow_threads() {
    auto* counter = static_cast<volatile uint64_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    CHECK(counter != MAP_FAILED, "mmap: %s", strerror(errno));
    *counter = 0;
    g_writer.counter = counter;
    const pthread_t writer = checked_thread(keep_writing, nullptr);
    while (*counter < 1000) yield();  // the writer is running (its CPU holds a writable entry)
    for (int round = 0; round < 20; ++round) {
        const int child = checked_fork();
        if (child == 0) {
            const uint64_t first = *counter;
            for (int i = 0; i < 200; ++i) {
                yield();
                if (*counter != first) exit(30);  // the parent's writer reached our frame
            }
            exit(0);
        }
        expect_exit(child, 0, "a child forked beside a writing thread");
    }
    __atomic_store_n(&g_writer.stop, 1, __ATOMIC_RELEASE);
    checked_join(writer);
    CHECK(munmap(const_cast<uint64_t*>(counter), 4096) == 0, "munmap: %s", strerror(errno));
}

// ---- x87, SSE and AVX state ------------------------------------------------------------------
// The kernel keeps each process's x87/SSE/AVX registers (docs/fpu.md). Every check here keeps its
// values in the registers themselves across a system call or a preemption (the compiler spills
// vector registers around calls, so C code alone would never notice a switch that lost them).

bool cpu_has_avx() {
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!((c >> 27) & 1) || !((c >> 28) & 1)) return false;  // OSXSAVE, AVX
    uint32_t low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    return (low & 6) == 6;  // the kernel enabled SSE and AVX state in XCR0
}

uint32_t read_mxcsr() {
    uint32_t value;
    __asm__ volatile("stmxcsr %0" : "=m"(value));
    return value;
}
void write_mxcsr(uint32_t value) { __asm__ volatile("ldmxcsr %0" ::"m"(value)); }
uint16_t read_fcw() {
    uint16_t value;
    __asm__ volatile("fnstcw %0" : "=m"(value));
    return value;
}
void write_fcw(uint16_t value) { __asm__ volatile("fldcw %0" ::"m"(value)); }

constexpr uint32_t kMxcsrDefault = 0x1F80;  // all exceptions masked, round to nearest
constexpr uint16_t kFcwDefault = 0x37F;     // the same for x87, 64-bit precision
constexpr uint32_t kMxcsrFlags = 0x3F;      // exceptions raised so far (inexact, after any sum)
constexpr int kExitNoSimdException = 3;     // fault_xm: the CPU does not raise #XM at all

// Every data register: ymm0-15 (or xmm0-15 without AVX, two doubles per slot) and st0-st7.
struct alignas(32) FpRegisters {
    double vector[16][4];
    long double x87[8];  // 10 bytes used of 16; the padding stays as initialised
};
static_assert(__builtin_offsetof(FpRegisters, x87) == 512, "the assembly below hard-codes the offset");

#define FP_EACH8(m) m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7)
#define FP_EACH16(m) FP_EACH8(m) m(8) m(9) m(10) m(11) m(12) m(13) m(14) m(15)
#define FP_LOAD_YMM(i) "vmovupd " #i "*32(%[r]), %%ymm" #i "\n\t"
#define FP_STORE_YMM(i) "vmovupd %%ymm" #i ", " #i "*32(%[r])\n\t"
#define FP_ADD_YMM(i) "vaddpd (%[d]), %%ymm" #i ", %%ymm" #i "\n\t"
#define FP_LOAD_XMM(i) "movupd " #i "*32(%[r]), %%xmm" #i "\n\t"
#define FP_STORE_XMM(i) "movupd %%xmm" #i ", " #i "*32(%[r])\n\t"
#define FP_ADD_XMM(i) "addpd (%[d]), %%xmm" #i "\n\t"
// st0 ends up holding x87[0]: pushed last.
#define FP_LOAD_X87                                                                                \
    "fldt 7*16+512(%[r])\n\tfldt 6*16+512(%[r])\n\tfldt 5*16+512(%[r])\n\tfldt 4*16+512(%[r])\n\t" \
    "fldt 3*16+512(%[r])\n\tfldt 2*16+512(%[r])\n\tfldt 1*16+512(%[r])\n\tfldt 0*16+512(%[r])\n\t"
#define FP_STORE_X87(i) "fstpt " #i "*16+512(%[r])\n\t"
// st0 += addend, then st1..st7 += st0: every x87 register changes in every round.
#define FP_ADD_X87                                                                                \
    "faddl (%[d])\n\tfadd %%st(0), %%st(1)\n\tfadd %%st(0), %%st(2)\n\tfadd %%st(0), %%st(3)\n\t" \
    "fadd %%st(0), %%st(4)\n\tfadd %%st(0), %%st(5)\n\tfadd %%st(0), %%st(6)\n\tfadd %%st(0), %%st(7)\n\t"
#define FP_CLOBBERS                                                                                            \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", \
        "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)"

// One step of a computation held in registers: load them all from `r`, yield (another process
// runs, with its own values in the same registers), then `rounds` rounds of additions (long
// enough that the timer preempts some steps), and store them back. Rounding follows this
// process's MXCSR and x87 control word, so a step that ran on another's settings shows too.
void fp_step(FpRegisters* r, const double* addend, long rounds, bool avx) {
    if (avx)
        __asm__ volatile(FP_EACH16(FP_LOAD_YMM) FP_LOAD_X87
                         "mov %[yield], %%eax\n\t"
                         "syscall\n\t"
                         "mov %[n], %%rdx\n\t"
                         "1:\n\t" FP_EACH16(FP_ADD_YMM) FP_ADD_X87
                         "dec %%rdx\n\t"
                         "jnz 1b\n\t" FP_EACH16(FP_STORE_YMM) FP_EACH8(FP_STORE_X87) "vzeroupper\n\t"
                         :
                         : [r] "r"(r), [d] "r"(addend), [n] "r"(rounds), [yield] "i"(SYS_YIELD)
                         : "rax", "rcx", "rdx", "r11", "memory", FP_CLOBBERS);
    else
        __asm__ volatile(FP_EACH16(FP_LOAD_XMM) FP_LOAD_X87
                         "mov %[yield], %%eax\n\t"
                         "syscall\n\t"
                         "mov %[n], %%rdx\n\t"
                         "1:\n\t" FP_EACH16(FP_ADD_XMM) FP_ADD_X87
                         "dec %%rdx\n\t"
                         "jnz 1b\n\t" FP_EACH16(FP_STORE_XMM) FP_EACH8(FP_STORE_X87)
                         :
                         : [r] "r"(r), [d] "r"(addend), [n] "r"(rounds), [yield] "i"(SYS_YIELD)
                         : "rax", "rcx", "rdx", "r11", "memory", FP_CLOBBERS);
}

// Worker k's settings and starting values: different rounding for each, so results depend on
// whose MXCSR and control word were in force as well as on whose registers.
struct FpWorker {
    uint32_t mxcsr;
    uint16_t fcw;
    FpRegisters registers;
};

alignas(32) const double kFpAddend[4] = {0.1, 0.2, 0.3, 0.7};
constexpr int kFpSteps = 12;
constexpr long kFpRounds = 3000;

void fp_worker_init(FpWorker& w, int k) {
    w.mxcsr = k == 0 ? kMxcsrDefault : 0x7F80;  // nearest, toward zero
    w.fcw = k == 0 ? kFcwDefault : 0x067F;      // 64-bit nearest, 53-bit down
    memset(&w.registers, 0, sizeof w.registers);
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 4; ++j) w.registers.vector[i][j] = (k + 1) * 1000.0 + i * 10 + j + 0.01;
    for (int i = 0; i < 8; ++i) w.registers.x87[i] = (k + 1) * 100.0L + i + 0.3L;
}

// Runs worker k's steps; `migrate` moves it to another CPU before each step (cpus > 1).
void fp_worker_run(FpWorker& w, int k, bool avx, bool migrate, const int* cpus, int cpu_count) {
    write_mxcsr(w.mxcsr);
    write_fcw(w.fcw);
    for (int step = 0; step < kFpSteps; ++step) {
        if (migrate) set_affinity(uint64_t{1} << cpus[(step + k) % cpu_count]);
        fp_step(&w.registers, kFpAddend, kFpRounds, avx);
    }
}

int online_cpus(int* cpus, int max) {
    static sable_cpu_info info[64];
    const long count = cpu_info(info, 64);
    CHECK(count >= 1, "cpu_info returned %ld (%s)", count, strerror(errno));
    int n = 0;
    for (long i = 0; i < count && i < 64 && n < max; ++i)
        if (info[i].index < 64) cpus[n++] = static_cast<int>(info[i].index);
    return n;
}

// What workers 0 and 1 compute alone, with nothing else on the CPU; settings back to defaults after.
void fp_expected_results(FpWorker (&expected)[2], bool avx, const int* cpus, int cpu_count) {
    for (int k = 0; k < 2; ++k) {
        fp_worker_init(expected[k], k);
        fp_worker_run(expected[k], k, avx, false, cpus, cpu_count);
    }
    write_mxcsr(kMxcsrDefault);
    write_fcw(kFcwDefault);
}

// Two processes run the same register-held computation with different values and rounding,
// interleaved (a yield in every step, preemption within steps), on one CPU or migrating between
// CPUs after every step; each must end with exactly what it computed alone beforehand.
void fp_interleave(bool migrate) {
    const bool avx = cpu_has_avx();
    int cpus[64];
    const int cpu_count = online_cpus(cpus, 64);
    CHECK(set_affinity(uint64_t{1} << getcpu()) == 0, "set_affinity: %s", strerror(errno));
    static FpWorker expected[2];
    fp_expected_results(expected, avx, cpus, cpu_count);
    CHECK(memcmp(&expected[0].registers, &expected[1].registers, sizeof(FpRegisters)) != 0,
          "both workers computed the same values");
    int pids[2];
    for (int k = 0; k < 2; ++k) {
        pids[k] = checked_fork();
        if (pids[k] != 0) continue;
        static FpWorker w;
        fp_worker_init(w, k);
        fp_worker_run(w, k, avx, migrate && cpu_count > 1, cpus, cpu_count);
        if (memcmp(&w.registers, &expected[k].registers, sizeof(FpRegisters)) != 0) exit(1);
        exit((read_mxcsr() & ~kMxcsrFlags) != w.mxcsr || read_fcw() != w.fcw ? 2 : 0);
    }
    for (int k = 0; k < 2; ++k) {
        const int status = wait_for(pids[k]);
        CHECK(status == 0,
              "worker %d (pid %d) ended with status %d (1: wrong registers, 2: MXCSR or control word changed)", k,
              pids[k], status);
    }
    printf("usertest: %s: 2 processes, %d steps, %s and x87%s\n", g_case, kFpSteps, avx ? "ymm" : "xmm (no AVX)",
           migrate ? (cpu_count > 1 ? ", migrating every step" : ", one CPU: nothing to migrate to") : ", one CPU");
    CHECK(set_affinity(~uint64_t{0}) == 0, "set_affinity(~0): %s", strerror(errno));
}

// The same with two threads of one process (one address space, each thread its own registers),
// interleaved on one CPU and then migrating between CPUs every step.
struct FpThread {
    int k;
    bool avx, migrate;
    const int* cpus;
    int cpu_count;
    const FpWorker* expected;
};

void* fp_thread(void* argument) {
    const auto* t = static_cast<const FpThread*>(argument);
    static FpWorker workers[2];
    FpWorker& w = workers[t->k];
    fp_worker_init(w, t->k);
    if (!t->migrate) set_affinity(uint64_t{1} << t->cpus[0]);
    fp_worker_run(w, t->k, t->avx, t->migrate && t->cpu_count > 1, t->cpus, t->cpu_count);
    if (memcmp(&w.registers, &t->expected->registers, sizeof(FpRegisters)) != 0) return reinterpret_cast<void*>(1);
    if ((read_mxcsr() & ~kMxcsrFlags) != w.mxcsr || read_fcw() != w.fcw) return reinterpret_cast<void*>(2);
    return nullptr;
}

void case_fpu_threads() {
    const bool avx = cpu_has_avx();
    int cpus[64];
    const int cpu_count = online_cpus(cpus, 64);
    static FpWorker expected[2];
    fp_expected_results(expected, avx, cpus, cpu_count);
    for (int migrate = 0; migrate < 2; ++migrate) {
        FpThread threads[2];
        pthread_t ids[2];
        for (int k = 0; k < 2; ++k) {
            threads[k] = {k, avx, migrate != 0, cpus, cpu_count, &expected[k]};
            ids[k] = checked_thread(fp_thread, &threads[k]);
        }
        for (int k = 0; k < 2; ++k) {
            const auto result = reinterpret_cast<uintptr_t>(checked_join(ids[k]));
            CHECK(result == 0, "thread %d (%s) ended with %lu (1: wrong registers, 2: MXCSR or control word changed)", k,
                  migrate ? "migrating" : "one CPU", result);
        }
    }
    // A new thread starts clean, not with its creator's settings.
    write_mxcsr(0x7F80);
    const pthread_t fresh = checked_thread(
        [](void*) -> void* {
            return reinterpret_cast<void*>(static_cast<uintptr_t>((read_mxcsr() & ~kMxcsrFlags) != kMxcsrDefault ||
                                                                  read_fcw() != kFcwDefault));
        },
        nullptr);
    CHECK(checked_join(fresh) == nullptr, "a new thread started with its creator's MXCSR or control word");
    write_mxcsr(kMxcsrDefault);
}

void case_fpu_switch() { fp_interleave(false); }
void case_fpu_migrate() { fp_interleave(true); }

// What the registers held at the first instruction of main (captured before anything else).
struct alignas(64) StartState {
    uint8_t fxsave[512];
    uint8_t ymm_upper[16][16];
    bool avx;
};
StartState g_start_state;

__attribute__((noinline)) void capture_start_state() {
    __asm__ volatile("fxsave64 %0" : "=m"(g_start_state.fxsave));
    g_start_state.avx = cpu_has_avx();
#define FP_UPPER(i) "vextractf128 $1, %%ymm" #i ", " #i "*16(%[u])\n\t"
    if (g_start_state.avx) __asm__ volatile(FP_EACH16(FP_UPPER)::[u] "r"(g_start_state.ymm_upper) : "memory");
#undef FP_UPPER
}

bool all_zero(const uint8_t* bytes, size_t length) {
    for (size_t i = 0; i < length; ++i)
        if (bytes[i]) return false;
    return true;
}

// Run as `usertest fpu_start_state` by fpu_clean: this process's registers at main.
void case_fpu_start_state() {
    const StartState& s = g_start_state;
    uint16_t fcw, fsw;
    uint32_t mxcsr;
    memcpy(&fcw, s.fxsave + 0, 2);
    memcpy(&fsw, s.fxsave + 2, 2);
    memcpy(&mxcsr, s.fxsave + 24, 4);
    // [SDM vol1 table 10-2] FCW 0, FSW 2, abridged tag 4, MXCSR 24, st0-7 at 32 (16 bytes each),
    // xmm0-15 at 160.
    CHECK(fcw == kFcwDefault, "x87 control word 0x%x at start, want 0x%x", fcw, kFcwDefault);
    CHECK(mxcsr == kMxcsrDefault, "MXCSR 0x%x at start, want 0x%x", mxcsr, kMxcsrDefault);
    CHECK(fsw == 0 && s.fxsave[4] == 0, "x87 status 0x%x, tags 0x%x at start: want 0 and all empty", fsw, s.fxsave[4]);
    for (int i = 0; i < 8; ++i) CHECK(all_zero(s.fxsave + 32 + 16 * i, 10), "st%d is not zero at start", i);
    for (int i = 0; i < 16; ++i) CHECK(all_zero(s.fxsave + 160 + 16 * i, 16), "xmm%d is not zero at start", i);
    for (int i = 0; i < 16; ++i)
        CHECK(!s.avx || all_zero(s.ymm_upper[i], 16), "the upper half of ymm%d is not zero at start", i);
}

// Another process holds distinct non-zero values in every register and non-default MXCSR and
// control word, on the same CPU, while a new process starts there: the new one sees none of them.
void case_fpu_clean() {
    CHECK(set_affinity(uint64_t{1} << getcpu()) == 0, "set_affinity: %s", strerror(errno));
    const bool avx = cpu_has_avx();
    int ready[2];
    checked_pipe(ready);
    const int dirty = checked_fork();
    if (dirty == 0) {
        static FpRegisters r;
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 4; ++j) r.vector[i][j] = -1.5 - i - j;
        for (int i = 0; i < 8; ++i) r.x87[i] = 7.25L + i;
        write_mxcsr(0x7FBF);  // toward zero, every exception flag raised (and masked)
        write_fcw(0x0F7F);
        char byte = 'r';
        if (write(ready[1], &byte, 1) != 1) exit(1);
        for (;;) fp_step(&r, kFpAddend, 100, avx);  // until killed: yields with them all live
    }
    char byte;
    CHECK(read(ready[0], &byte, 1) == 1, "the dirty child never got ready");
    for (int i = 0; i < 3; ++i) yield();  // it is between yields now, its registers loaded
    const char* const argv[] = {"usertest", "fpu_start_state", nullptr};
    const int checker = spawn("usertest", argv, nullptr);
    CHECK(checker > 0, "spawn(usertest fpu_start_state): %s", strerror(errno));
    const int status = wait_for(checker);
    CHECK(kill(dirty) == 0, "kill(%d): %s", dirty, strerror(errno));
    wait_for(dirty);
    CHECK(status == 0, "usertest fpu_start_state beside a process with dirty registers ended with %d", status);
    CHECK(set_affinity(~uint64_t{0}) == 0, "set_affinity(~0): %s", strerror(errno));
}

// fork in the middle of register-held work: the child continues with the parent's registers,
// MXCSR and control word (the parent made the call, so the kernel saves them first).
void case_fpu_fork() {
    const bool avx = cpu_has_avx();
    static FpRegisters values, expected;
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 4; ++j) values.vector[i][j] = 3.5 * (i + 1) + j * 0.25;
    for (int i = 0; i < 8; ++i) values.x87[i] = 11.125L * (i + 1);
    if (!avx)  // movupd keeps two of the four doubles
        for (int i = 0; i < 16; ++i) values.vector[i][2] = values.vector[i][3] = 0;
    expected = values;
    constexpr uint32_t kMxcsrTowardZero = 0x7F80;
    constexpr uint16_t kFcwDown53 = 0x067F;
    write_mxcsr(kMxcsrTowardZero);
    write_fcw(kFcwDown53);
    // Loaded, fork, stored: in the child the stores read whatever the kernel gave it.
    long pid = SYS_FORK;
    if (avx)
        __asm__ volatile(FP_EACH16(FP_LOAD_YMM) FP_LOAD_X87 "syscall\n\t" FP_EACH16(FP_STORE_YMM)
                             FP_EACH8(FP_STORE_X87) "vzeroupper\n\t"
                         : "+a"(pid)
                         : [r] "r"(&values)
                         : "rcx", "r11", "memory", FP_CLOBBERS);
    else
        __asm__ volatile(FP_EACH16(FP_LOAD_XMM) FP_LOAD_X87 "syscall\n\t" FP_EACH16(FP_STORE_XMM) FP_EACH8(FP_STORE_X87)
                         : "+a"(pid)
                         : [r] "r"(&values)
                         : "rcx", "r11", "memory", FP_CLOBBERS);
    const uint32_t mxcsr = read_mxcsr() & ~kMxcsrFlags;
    const uint16_t fcw = read_fcw();
    write_mxcsr(kMxcsrDefault);
    write_fcw(kFcwDefault);
    const bool same = memcmp(&values, &expected, sizeof values) == 0;
    if (pid == 0) exit(!same ? 1 : mxcsr != kMxcsrTowardZero || fcw != kFcwDown53 ? 2 : 0);
    CHECK(pid > 0, "fork: error %ld", -pid);
    CHECK(same && mxcsr == kMxcsrTowardZero && fcw == kFcwDown53,
          "the parent's registers changed across fork (MXCSR 0x%x, control word 0x%x)", mxcsr, fcw);
    const int status = wait_for(static_cast<int>(pid));
    CHECK(status == 0, "the child ended with status %d (1: registers not the parent's, 2: MXCSR or control word)",
          status);
}

// An unmasked SIMD divide by zero raises #XM; an unmasked x87 one #MF at the next x87
// instruction. Each kills the process with the floating-point reason.
void case_fault_xm() {
    write_mxcsr(kMxcsrDefault & ~0x200u);  // ZM clear
    volatile double dividend = 1.0, divisor = 0.0;
    const double quotient = dividend / divisor;
    // A CPU faults here whatever the kernel did: #XM with CR4.OSXMMEXCPT set, #UD without it
    // (a different kill reason). Only an emulator that ignores SIMD exceptions (QEMU's TCG)
    // gets past the division.
    printf("usertest: fault_xm: no exception for an unmasked SSE divide by zero (quotient %f, MXCSR 0x%x)\n", quotient,
           read_mxcsr());
    exit(kExitNoSimdException);
}

void case_fault_mf() {
    write_fcw(kFcwDefault & ~0x4u);  // ZM clear
    static const double zero = 0.0;
    __asm__ volatile("fld1\n\tfdivl %0\n\tfwait\n\tfstp %%st(0)" ::"m"(zero) : "st");
    fail("survived an unmasked x87 divide by zero");
}

// printf's %f, through the same formatter as every other conversion.
void case_printf_float() {
    char text[128];
    snprintf(text, sizeof text, "%f|%.2f|%.0f|%8.3f|%-7.1f|%f", 3.14159265358979, 2.675, 2.5, -1.5, 0.25, 1e20);
    CHECK(strcmp(text, "3.141593|2.67|2|  -1.500|0.2    |100000000000000000000.000000") == 0, "got \"%s\"", text);
    volatile float third = 1.0f / 3.0f;
    snprintf(text, sizeof text, "%.10f %f %f", static_cast<double>(third), -0.0, __builtin_inf());
    CHECK(strcmp(text, "0.3333333433 -0.000000 inf") == 0, "got \"%s\"", text);
}

// ---- dispatch --------------------------------------------------------------------------------

struct Case {
    const char* name;
    void (*run)();
};

const Case kCases[] = {
    {"fork", case_fork},
    {"syscall_at_top", case_syscall_at_top},
    {"forkbomb", case_forkbomb},
    {"pipe", case_pipe},
    {"wait", case_wait},
    {"stack_grow", case_stack_grow},
    {"stack_overflow", case_stack_overflow},
    {"fault_de", case_fault_de},
    {"fault_ud", case_fault_ud},
    {"fault_gp", case_fault_gp},
    {"fault_int", case_fault_int},
    {"umip", case_umip},
    {"fetch_guard", case_fetch_guard},
    {"fault_pf", case_fault_pf},
    {"fault_kernel", case_fault_kernel},
    {"fault_noncanonical", case_fault_noncanonical},
    {"efault", case_efault},
    {"brk", case_brk},
    {"brk_far", case_brk_far},
    {"loop", case_loop},
    {"spawn", case_spawn},
    {"affinity", case_affinity},
    {"args", case_args},
    {"sleep", case_sleep},
    {"threads", case_threads},
    {"thread_limit", case_thread_limit},
    {"thread_fault", case_thread_fault},
    {"thread_stack_overflow", case_thread_stack_overflow},
    {"thread_exit", case_thread_exit},
    {"thread_fork", case_thread_fork},
    {"futex", case_futex},
    {"condvar", case_condvar},
    {"mmap", case_mmap},
    {"mprotect_huge", case_mprotect_huge},
    {"mmap_threads", case_mmap_threads},
    {"shootdown", case_shootdown},
    {"cow", case_cow},
    {"cow_shared", case_cow_shared},
    {"cow_threads", case_cow_threads},
    {"cow_oom", case_cow_oom},
    {"fpu_switch", case_fpu_switch},
    {"fpu_threads", case_fpu_threads},
    {"fpu_migrate", case_fpu_migrate},
    {"fpu_clean", case_fpu_clean},
    {"fpu_start_state", case_fpu_start_state},
    {"fpu_fork", case_fpu_fork},
    {"fault_xm", case_fault_xm},
    {"fault_mf", case_fault_mf},
    {"printf_float", case_printf_float},
};

}  // namespace

int main(int argc, char** argv) {
    capture_start_state();  // first: fpu_start_state checks what the kernel handed over
    g_argc = argc;
    g_argv = argv;
    if (argc >= 2) {
        for (const Case& c : kCases) {
            if (strcmp(argv[1], c.name) != 0) continue;
            g_case = c.name;
            c.run();
            printf("usertest: %s: ok\n", c.name);
            return 0;
        }
    }
    dprintf(2, "usage: usertest <case>; cases:");
    for (const Case& c : kCases) dprintf(2, " %s", c.name);
    dprintf(2, "\n");
    return 2;
}
