// stress: a soak of everything at once. Forked actors run a random mix of fork/exit, pipes with
// checked data, spawn, kill, brk, deep stacks, CPU affinity, threads and mmap until a deadline on
// the kernel's clock, each checking its own results; the parent watches their progress through a
// shared page, names an actor that stops moving (and what every task is doing), and at the end
// checks that every process was reaped and every frame came back.
//
//   stress [seconds=60] [actors=8] [seed=1]
//
// docs/testing.md explains the mix, the stall report and tools/soak, which runs this for hours.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "census.hpp"

namespace {

using census::Random;

constexpr uint64_t kPage = 4096;
constexpr unsigned kMaxActors = 32;
constexpr uint64_t kNsPerMs = 1000000, kNsPerSecond = 1000000000;
// An actor whose round count and current step stand still this long on the kernel's clock is
// stalled: every step of the mix ends in milliseconds.
constexpr uint64_t kStallMs = 30000;
// After the deadline, actors finish the round they are in; one still running this much later
// has hung, and is killed so the run can end with a verdict.
constexpr uint64_t kFinishMs = 120000;
constexpr uint64_t kProgressEveryMs = 10000;
constexpr uint64_t kSettleMs = 30000;
constexpr unsigned kThreadsPerRound = 6;
constexpr uint64_t kThreadIncrements = 2000;
constexpr uint64_t kDeepStackFrames = 4096;  // 1 KiB each: 4 MiB of the 20 MiB stack

enum Step : uint32_t {
    kForkExit,
    kPipeData,
    kSpawnEcho,
    kKillChild,
    kBrk,
    kDeepStack,
    kAffinity,
    kThreads,
    kMmap,
    kStepCount,
};
const char* const kStepNames[kStepCount] = {"fork_exit",  "pipe_data", "spawn_echo", "kill_child", "brk",
                                            "deep_stack", "affinity",  "threads",    "mmap"};

// One actor as the parent sees it (in a MAP_SHARED page).
struct ActorReport {
    uint64_t rounds;
    uint32_t step;    // the step in progress
    uint32_t failed;  // set with `message` before the actor exits 1
    uint64_t step_count[kStepCount];
    char message[112];
};
static_assert(sizeof(ActorReport) * kMaxActors <= 16 * kPage);

ActorReport* g_reports;

[[noreturn]] void fail(ActorReport& report, const char* format, ...) __attribute__((format(printf, 2, 3)));
[[noreturn]] void fail(ActorReport& report, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(report.message, sizeof report.message, format, args);
    va_end(args);
    __atomic_store_n(&report.failed, 1, __ATOMIC_RELEASE);
    exit(1);
}

#define EXPECT(report, condition, ...)               \
    do {                                             \
        if (!(condition)) fail(report, __VA_ARGS__); \
    } while (0)

uint8_t pattern_byte(uint64_t seed, uint64_t index) {
    return static_cast<uint8_t>((seed >> (index % 57)) ^ index ^ (index >> 8));
}

// ---- the steps ------------------------------------------------------------------------------------

void fork_exit(ActorReport& report, Random& r) {
    const int code = static_cast<int>(r.below(200));
    const int pid = fork();
    if (pid == 0) exit(code);
    EXPECT(report, pid > 0, "fork: %s", strerror(errno));
    int status = -1;
    EXPECT(report, waitpid(pid, &status, 0) == pid, "waitpid %d: %s", pid, strerror(errno));
    EXPECT(report, status == code, "child %d exited with %d, not %d", pid, status, code);
}

bool read_exactly(int fd, uint8_t* buffer, size_t length) {
    for (size_t done = 0; done < length;) {
        const ssize_t got = read(fd, buffer + done, length - done);
        if (got <= 0) return false;
        done += static_cast<size_t>(got);
    }
    return true;
}

// A child writes more than a pipe holds, in pieces of random size; the actor reads it back in
// other random pieces and checks every byte, then end of file.
void pipe_data(ActorReport& report, Random& r) {
    int fds[2];
    EXPECT(report, pipe(fds) == 0, "pipe: %s", strerror(errno));
    const uint64_t seed = r.next();
    const size_t total = 1 + r.below(48 * 1024);
    const int pid = fork();
    if (pid == 0) {
        close(fds[0]);
        Random pieces{seed};
        uint8_t chunk[1500];
        for (size_t sent = 0; sent < total;) {
            size_t length = 1 + pieces.below(sizeof chunk);
            if (length > total - sent) length = total - sent;
            for (size_t i = 0; i < length; ++i) chunk[i] = pattern_byte(seed, sent + i);
            for (size_t done = 0; done < length;) {
                const ssize_t put = write(fds[1], chunk + done, length - done);
                if (put <= 0) exit(2);
                done += static_cast<size_t>(put);
            }
            sent += length;
        }
        exit(0);
    }
    EXPECT(report, pid > 0, "fork: %s", strerror(errno));
    close(fds[1]);
    uint8_t buffer[2048];
    for (size_t received = 0; received < total;) {
        size_t length = 1 + r.below(sizeof buffer);
        if (length > total - received) length = total - received;
        EXPECT(report, read_exactly(fds[0], buffer, length), "pipe ended after %zu of %zu bytes", received, total);
        for (size_t i = 0; i < length; ++i)
            EXPECT(report, buffer[i] == pattern_byte(seed, received + i), "pipe byte %zu is 0x%x, not 0x%x",
                   received + i, buffer[i], pattern_byte(seed, received + i));
        received += length;
    }
    EXPECT(report, read(fds[0], buffer, 1) == 0, "no end of file after %zu bytes", total);
    close(fds[0]);
    int status = -1;
    EXPECT(report, waitpid(pid, &status, 0) == pid && status == 0, "pipe writer ended with %d", status);
}

void spawn_echo(ActorReport& report, Random& r, unsigned actor) {
    int fds[2];
    EXPECT(report, pipe(fds) == 0, "pipe: %s", strerror(errno));
    char word[2][24];
    snprintf(word[0], sizeof word[0], "actor%u", actor);
    snprintf(word[1], sizeof word[1], "%lu", r.next());
    const char* const argv[] = {"echo", word[0], word[1], nullptr};
    const int stdio[3] = {fds[0], fds[1], fds[1]};
    const int pid = spawn("echo", argv, stdio);
    EXPECT(report, pid > 0, "spawn echo: %s", strerror(errno));
    close(fds[1]);
    char expected[64], got[64];
    const int length = snprintf(expected, sizeof expected, "%s %s\n", word[0], word[1]);
    size_t used = 0;
    for (ssize_t n; (n = read(fds[0], got + used, sizeof got - 1 - used)) > 0;) used += static_cast<size_t>(n);
    close(fds[0]);
    got[used] = '\0';
    EXPECT(report, used == static_cast<size_t>(length) && memcmp(got, expected, used) == 0, "echo said \"%s\"", got);
    int status = -1;
    EXPECT(report, waitpid(pid, &status, 0) == pid && status == 0, "echo ended with %d", status);
}

void kill_child(ActorReport& report, Random& r) {
    const bool sleeper = r.one_in(2);
    const int pid = fork();
    if (pid == 0) {
        for (;;) {
            if (sleeper) sleep_ms(1000);
        }
    }
    EXPECT(report, pid > 0, "fork: %s", strerror(errno));
    for (uint64_t i = r.below(4); i > 0; --i) yield();
    EXPECT(report, kill(pid) == 0, "kill %d: %s", pid, strerror(errno));
    int status = -1;
    EXPECT(report, waitpid(pid, &status, 0) == pid, "waitpid %d: %s", pid, strerror(errno));
    EXPECT(report, status == 256 + SABLE_KILL_SIGNAL, "killed child ended with %d", status);
}

void grow_break(ActorReport& report, Random& r) {
    const uint64_t pages = 1 + r.below(256);
    auto* base = static_cast<uint8_t*>(sbrk(static_cast<intptr_t>(pages * kPage)));
    EXPECT(report, base != reinterpret_cast<void*>(-1), "sbrk %lu pages: %s", pages, strerror(errno));
    const uint64_t seed = r.next();
    for (uint64_t p = 0; p < pages; ++p) base[p * kPage + (seed + p) % kPage] = pattern_byte(seed, p);
    for (uint64_t p = 0; p < pages; ++p)
        EXPECT(report, base[p * kPage + (seed + p) % kPage] == pattern_byte(seed, p), "brk page %lu lost its byte", p);
    EXPECT(report, sbrk(-static_cast<intptr_t>(pages * kPage)) != reinterpret_cast<void*>(-1), "sbrk shrink: %s",
           strerror(errno));
}

// Each frame keeps a value only it computes; the unwind checks them all.
__attribute__((noinline)) uint64_t descend(uint64_t depth, uint64_t seed) {
    volatile uint8_t frame[1000];
    frame[0] = static_cast<uint8_t>(depth ^ seed);
    frame[sizeof frame - 1] = static_cast<uint8_t>(depth * 7);
    const uint64_t below = depth ? descend(depth - 1, seed) : 0;
    const bool intact =
        frame[0] == static_cast<uint8_t>(depth ^ seed) && frame[sizeof frame - 1] == static_cast<uint8_t>(depth * 7);
    return below + (intact ? 1 : 0);
}

void deep_stack(ActorReport& report, Random& r) {
    const uint64_t depth = 1 + r.below(kDeepStackFrames);
    const uint64_t intact = descend(depth - 1, r.next());
    EXPECT(report, intact == depth, "%lu of %lu stack frames kept their bytes", intact, depth);
}

void affinity(ActorReport& report, Random& r, unsigned cpus) {
    const unsigned cpu = static_cast<unsigned>(r.below(cpus < 64 ? cpus : 64));
    EXPECT(report, set_affinity(1ull << cpu) == 0, "set_affinity cpu %u: %s", cpu, strerror(errno));
    for (uint64_t i = r.below(3); i > 0; --i) yield();
    const int now = getcpu();
    EXPECT(report, now == static_cast<int>(cpu), "pinned to cpu %u, running on %d", cpu, now);
    EXPECT(report, set_affinity(0) == 0, "set_affinity any: %s", strerror(errno));
}

struct ThreadWork {
    uint64_t shared_counter;  // atomic adds from every thread
    uint32_t start_gate;      // futex: 0 until all are created
};

ThreadWork g_work;

[[noreturn]] void counting_thread(uint64_t index) {
    while (__atomic_load_n(&g_work.start_gate, __ATOMIC_ACQUIRE) == 0)
        futex_wait(&g_work.start_gate, 0, SABLE_FUTEX_FOREVER);
    for (uint64_t i = 0; i < kThreadIncrements; ++i) __atomic_fetch_add(&g_work.shared_counter, 1, __ATOMIC_RELAXED);
    thread_exit(index * 3 + 1);
}

void threads(ActorReport& report, Random& r) {
    const unsigned count = 1 + static_cast<unsigned>(r.below(kThreadsPerRound));
    g_work.shared_counter = 0;
    __atomic_store_n(&g_work.start_gate, 0, __ATOMIC_RELEASE);
    int tids[kThreadsPerRound];
    for (unsigned i = 0; i < count; ++i) {
        tids[i] = thread_create(counting_thread, i);
        EXPECT(report, tids[i] > 0, "thread_create: %s", strerror(errno));
    }
    __atomic_store_n(&g_work.start_gate, 1, __ATOMIC_RELEASE);
    futex_wake(&g_work.start_gate, ~0u);
    for (unsigned i = 0; i < count; ++i) {
        uint64_t value = 0;
        EXPECT(report, thread_join(tids[i], &value) == 0, "thread_join %d: %s", tids[i], strerror(errno));
        EXPECT(report, value == i * 3 + 1, "thread %d returned %lu", tids[i], value);
    }
    EXPECT(report, g_work.shared_counter == count * kThreadIncrements, "threads counted %lu, not %lu",
           g_work.shared_counter, count * kThreadIncrements);
}

void map_touch_unmap(ActorReport& report, Random& r) {
    const uint64_t pages = 1 + r.below(64);
    auto* memory = static_cast<uint8_t*>(mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    EXPECT(report, memory != MAP_FAILED, "mmap %lu pages: %s", pages, strerror(errno));
    for (uint64_t p = 0; p < pages; ++p) {
        EXPECT(report, memory[p * kPage + 17] == 0, "fresh mmap page %lu not zero", p);
        memory[p * kPage + 17] = static_cast<uint8_t>(p + 1);
    }
    for (uint64_t p = 0; p < pages; ++p)
        EXPECT(report, memory[p * kPage + 17] == static_cast<uint8_t>(p + 1), "mmap page %lu lost its byte", p);
    EXPECT(report, munmap(memory, pages * kPage) == 0, "munmap: %s", strerror(errno));
}

[[noreturn]] void actor(unsigned index, uint64_t seed, uint64_t deadline_ns, unsigned cpus) {
    ActorReport& report = g_reports[index];
    Random r{seed};
    while (clock_ns() < deadline_ns) {
        const Step step = static_cast<Step>(r.below(kStepCount));
        __atomic_store_n(&report.step, step, __ATOMIC_RELEASE);
        switch (step) {
            case kForkExit:
                fork_exit(report, r);
                break;
            case kPipeData:
                pipe_data(report, r);
                break;
            case kSpawnEcho:
                spawn_echo(report, r, index);
                break;
            case kKillChild:
                kill_child(report, r);
                break;
            case kBrk:
                grow_break(report, r);
                break;
            case kDeepStack:
                deep_stack(report, r);
                break;
            case kAffinity:
                affinity(report, r, cpus);
                break;
            case kThreads:
                threads(report, r);
                break;
            case kMmap:
                map_touch_unmap(report, r);
                break;
            case kStepCount:
                break;
        }
        ++report.step_count[step];
        __atomic_fetch_add(&report.rounds, 1, __ATOMIC_RELEASE);
    }
    exit(0);
}

// ---- the parent -----------------------------------------------------------------------------------

// What every task is doing, for a stall report.
void print_tasks() {
    static sable_process_info processes[128];
    static sable_thread_info threads[512];
    const long process_count = process_list(processes, 128);
    const long thread_count = thread_list(threads, 512);
    for (long i = 0; i < process_count && i < 128; ++i) {
        const sable_process_info& p = processes[i];
        printf("stress:   pid %d ppid %d %s state %u cpu %u ticks %lu pages %lu\n", p.pid, p.ppid, p.name, p.state,
               p.cpu, p.runtime_ticks, p.user_pages);
        for (long t = 0; t < thread_count && t < 512; ++t)
            if (threads[t].pid == p.pid && threads[t].tid != 1)
                printf("stress:     tid %d state %u cpu %u ticks %lu\n", threads[t].tid, threads[t].state,
                       threads[t].cpu, threads[t].runtime_ticks);
    }
    static sable_cpu_info cpus[64];
    const long cpu_count = cpu_info(cpus, 64);
    for (long c = 0; c < cpu_count && c < 64; ++c)
        printf("stress:   cpu %u ticks %lu ready %lu idle %lu\n", cpus[c].index, cpus[c].ticks, cpus[c].ready_tasks,
               cpus[c].idle);
}

struct Options {
    uint64_t seconds = 60, seed = 1;
    unsigned actors = 8;
};

bool parse(int argc, char** argv, Options& options) {
    for (int i = 1; i < argc; ++i) {
        const char* equals = strchr(argv[i], '=');
        if (!equals) return false;
        const uint64_t value = strtoul(equals + 1, nullptr, 0);
        const size_t key = static_cast<size_t>(equals - argv[i]);
        if (key == 7 && strncmp(argv[i], "seconds", 7) == 0)
            options.seconds = value;
        else if (key == 6 && strncmp(argv[i], "actors", 6) == 0)
            options.actors = static_cast<unsigned>(value);
        else if (key == 4 && strncmp(argv[i], "seed", 4) == 0)
            options.seed = value;
        else
            return false;
    }
    return options.actors >= 1 && options.actors <= kMaxActors;
}

struct ActorSlot {
    int pid;
    int status;
    uint64_t last_rounds, last_change_ns;
    uint32_t last_step;
    bool stall_reported;
};

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (!parse(argc, argv, options)) {
        printf("usage: stress [seconds=60] [actors=1..%u] [seed=1]\n", kMaxActors);
        return 2;
    }
    sable_cpu_info cpu_list[64];
    const unsigned cpus = static_cast<unsigned>(cpu_info(cpu_list, 64));
    printf("stress: seconds=%lu actors=%u seed=%lu cpus=%u\n", options.seconds, options.actors, options.seed, cpus);
    census::Census start{}, before{}, after{};
    if (!census::take(start)) {
        printf("stress: FAIL cannot take a census\n");
        return 1;
    }
    void* shared = mmap(nullptr, 16 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED);
    if (shared == MAP_FAILED) {
        printf("stress: FAIL cannot map the report pages: %s\n", strerror(errno));
        return 1;
    }
    memset(shared, 0, 16 * kPage);
    g_reports = static_cast<ActorReport*>(shared);
    census::warm_up();
    if (!census::settle(start, before, kSettleMs)) {
        printf("stress: FAIL the warm-up's tasks were not reaped\n");
        return 1;
    }
    const uint64_t started_ns = clock_ns(), deadline_ns = started_ns + options.seconds * kNsPerSecond;
    ActorSlot slots[kMaxActors] = {};
    for (unsigned a = 0; a < options.actors; ++a) {
        const int pid = fork();
        if (pid == 0) actor(a, census::derive_seed(options.seed, a), deadline_ns, cpus);
        if (pid < 0) {
            printf("stress: FAIL fork of actor %u: %s\n", a, strerror(errno));
            return 1;
        }
        slots[a] = {pid, -1, 0, started_ns, kStepCount, false};
    }
    unsigned running = options.actors, stalls = 0, hung = 0;
    uint64_t last_progress_ns = started_ns;
    while (running) {
        int status = 0;
        const int pid = waitpid(-1, &status, SABLE_WNOHANG);
        if (pid > 0) {
            for (unsigned a = 0; a < options.actors; ++a) {
                if (slots[a].pid != pid) continue;
                slots[a].pid = 0;
                slots[a].status = status;
                --running;
            }
            continue;
        }
        const uint64_t now = clock_ns();
        for (unsigned a = 0; a < options.actors; ++a) {
            ActorSlot& slot = slots[a];
            if (!slot.pid) continue;
            const uint64_t rounds = __atomic_load_n(&g_reports[a].rounds, __ATOMIC_ACQUIRE);
            const uint32_t step = __atomic_load_n(&g_reports[a].step, __ATOMIC_ACQUIRE);
            if (rounds != slot.last_rounds || step != slot.last_step) {
                slot.last_rounds = rounds;
                slot.last_step = step;
                slot.last_change_ns = now;
            } else if (!slot.stall_reported && now - slot.last_change_ns > kStallMs * kNsPerMs) {
                slot.stall_reported = true;
                ++stalls;
                printf("stress: STALL actor %u (pid %d) in %s for %lu s after %lu rounds; tasks:\n", a, slot.pid,
                       step < kStepCount ? kStepNames[step] : "start", (now - slot.last_change_ns) / kNsPerSecond,
                       rounds);
                print_tasks();
            }
            if (now > deadline_ns + kFinishMs * kNsPerMs) {
                printf("stress: actor %u (pid %d) still running %lu s after the deadline: killed\n", a, slot.pid,
                       kFinishMs / 1000);
                kill(slot.pid);
                ++hung;
                slot.last_change_ns = ~0ull / 2;  // reported once
            }
        }
        if (now - last_progress_ns > kProgressEveryMs * kNsPerMs) {
            last_progress_ns = now;
            uint64_t rounds = 0;
            for (unsigned a = 0; a < options.actors; ++a)
                rounds += __atomic_load_n(&g_reports[a].rounds, __ATOMIC_ACQUIRE);
            printf("stress: %lu s rounds=%lu running=%u\n", (now - started_ns) / kNsPerSecond, rounds, running);
        }
        sleep_ms(20);
    }
    uint64_t rounds = 0, steps[kStepCount] = {};
    unsigned failed = 0;
    for (unsigned a = 0; a < options.actors; ++a) {
        const ActorReport& report = g_reports[a];
        rounds += report.rounds;
        for (unsigned s = 0; s < kStepCount; ++s) steps[s] += report.step_count[s];
        if (slots[a].status != 0) {
            ++failed;
            printf("stress: actor %u ended with %d in %s: %s\n", a, slots[a].status,
                   report.step < kStepCount ? kStepNames[report.step] : "start",
                   report.failed ? report.message : "(no message)");
        }
    }
    printf("stress: seconds=%lu actors=%u rounds=%lu", (clock_ns() - started_ns) / kNsPerSecond, options.actors,
           rounds);
    for (unsigned s = 0; s < kStepCount; ++s) printf(" %s=%lu", kStepNames[s], steps[s]);
    printf(" failed=%u stalls=%u\n", failed, stalls);
    const bool settled = census::settle(before, after, kSettleMs);
    char changes[200];
    const bool conserved = census::frames_conserved(before, after, changes, sizeof changes);
    printf(
        "stress: census processes %ld->%ld free+heap %lu->%lu page_table %lu->%lu (kept %lu->%lu) user %lu->%lu "
        "stack %lu->%lu: %s%s\n",
        before.processes, after.processes, before.memory.free + before.memory.heap,
        after.memory.free + after.memory.heap, before.memory.page_table, after.memory.page_table,
        before.memory.kept_page_tables, after.memory.kept_page_tables, before.memory.user, after.memory.user,
        before.memory.stack, after.memory.stack, conserved && settled ? "conserved" : "CHANGED ", conserved ? "" : changes);
    bool every_step = true;
    for (unsigned s = 0; s < kStepCount; ++s) every_step &= steps[s] > 0;
    if (failed || stalls || hung || !settled || !conserved || !every_step) {
        printf("stress: FAIL%s%s%s%s%s\n", failed ? " actors failed" : "", stalls || hung ? " stalls" : "",
               settled ? "" : " processes or kernel stacks not back", conserved ? "" : " frames not conserved",
               every_step ? "" : " a step never ran");
        return 1;
    }
    printf("stress: PASS\n");
    return 0;
}
