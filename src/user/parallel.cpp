// parallel [limit]: counts the primes below `limit` (default 300000) with 1, 2, 4 and 8 threads
// of one process and prints each run's time and its speed-up over one thread. The work is
// handed out in small chunks from a shared counter, so threads on faster or less busy CPUs
// take more of it. Every run must find the same count; a mismatch exits 1.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

namespace {

constexpr uint64_t kChunk = 1000;

struct Work {
    uint64_t limit;
    uint64_t next;   // the first number of the next chunk to hand out
    uint64_t found;  // primes counted so far
    uint64_t cpus;   // bit n: a thread counted on CPU n
} g_work;

bool is_prime(uint64_t n) {
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0) return false;
    return true;
}

void* count_primes(void*) {
    uint64_t mine = 0;
    for (;;) {
        const uint64_t start = __atomic_fetch_add(&g_work.next, kChunk, __ATOMIC_RELAXED);
        if (start >= g_work.limit) break;
        const uint64_t end = start + kChunk < g_work.limit ? start + kChunk : g_work.limit;
        for (uint64_t n = start; n < end; ++n) mine += is_prime(n);
        __atomic_fetch_or(&g_work.cpus, uint64_t{1} << (getcpu() & 63), __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&g_work.found, mine, __ATOMIC_RELAXED);
    return nullptr;
}

// Returns the wall time in ns of one run with `threads` threads (the main thread is one).
uint64_t run(uint64_t limit, int threads, uint64_t& found, int& cpus_used) {
    g_work = {limit, 0, 0, 0};
    pthread_t helpers[8];
    const uint64_t start = clock_ns();
    for (int i = 1; i < threads; ++i) {
        if (pthread_create(&helpers[i], nullptr, count_primes, nullptr) != 0) {
            printf("parallel: could not start thread %d\n", i);
            exit(1);
        }
    }
    count_primes(nullptr);
    for (int i = 1; i < threads; ++i) pthread_join(helpers[i], nullptr);
    const uint64_t elapsed = clock_ns() - start;
    found = g_work.found;
    cpus_used = __builtin_popcountll(g_work.cpus);
    return elapsed;
}

}  // namespace

int main(int argc, char** argv) {
    const uint64_t limit = argc >= 2 ? strtoul(argv[1], nullptr, 10) : 300000;
    sable_cpu_info cpu_list[64];
    const long cpus = cpu_info(cpu_list, 64);
    printf("parallel: primes below %lu on %ld CPUs\n", limit, cpus);
    // One untimed run first: under an emulator the first pass through the code pays for its
    // translation (which made 2 threads look 2.7 times faster than 1 on 2 CPUs).
    {
        uint64_t found;
        int used;
        run(limit / 4 + 1, 8, found, used);
    }
    uint64_t one_thread_ns = 0, expected = 0;
    for (int threads = 1; threads <= 8; threads *= 2) {
        uint64_t found;
        int used;
        const uint64_t ns = run(limit, threads, found, used);
        if (threads == 1) {
            one_thread_ns = ns;
            expected = found;
        } else if (found != expected) {
            printf("parallel: FAIL %d threads found %lu primes, 1 thread %lu\n", threads, found, expected);
            return 1;
        }
        const uint64_t speedup_x100 = ns ? one_thread_ns * 100 / ns : 0;
        printf("parallel: threads=%d primes=%lu time=%lu ms speedup=%lu.%02lux cpus_used=%d\n", threads, found,
               ns / 1000000, speedup_x100 / 100, speedup_x100 % 100, used);
        printf("BENCH parallel_primes_%dt unit=ms n=1 median=%lu p99=%lu min=%lu cpus=%d\n", threads, ns / 1000000,
               ns / 1000000, ns / 1000000, used);
    }
    return 0;
}
