// Host benchmark page_alloc_free: one 4 KiB frame allocated and freed, by Sable's free-list
// allocator and by a model of the seed's page-table AVL scan, for 128 MiB to 256 GiB of simulated
// RAM at 50 % and 99 % full. Prints Google Benchmark's table, then BENCH lines (docs/testing.md).
#include <benchmark/benchmark.h>
#include <x86intrin.h>

#include <stdint.h>
#include <stdio.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "mm/page_frame_allocator.hpp"
#include "seed_avl_scan.hpp"

namespace {

using mm::PageFrameAllocator;
using mm::PageState;

constexpr uint64_t kMiB = 1024 * 1024;

enum class Impl { Sable, Seed };

double g_tsc_hz = 0;
std::vector<std::string> g_bench_lines;  // printed after Google Benchmark's own table

// lfence before rdtsc keeps earlier instructions from drifting past the read [Intel SDM vol2
// RDTSC]; the one after keeps later ones from starting before it.
inline uint64_t read_tsc() {
    _mm_lfence();
    const uint64_t tsc = __rdtsc();
    _mm_lfence();
    return tsc;
}

// The TSC rate against steady_clock over ~100 ms, to turn cycles into nanoseconds.
double calibrate_tsc_hz() {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const uint64_t start_tsc = read_tsc();
    auto now = start;
    while (now - start < std::chrono::milliseconds(100)) now = Clock::now();
    const uint64_t end_tsc = read_tsc();
    return static_cast<double>(end_tsc - start_tsc) / std::chrono::duration<double>(now - start).count();
}

std::string size_name(uint64_t size_mib) {
    return size_mib % 1024 == 0 ? std::to_string(size_mib / 1024) + "GiB" : std::to_string(size_mib) + "MiB";
}

struct Summary {
    size_t n;
    double median, p99, min;
};

Summary summarize(std::vector<double> per_op_cycles) {
    std::sort(per_op_cycles.begin(), per_op_cycles.end());
    const size_t n = per_op_cycles.size();
    const size_t p99_index = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(n))) - 1;
    return {n, per_op_cycles[(n - 1) / 2], per_op_cycles[p99_index], per_op_cycles.front()};
}

void record(Impl impl, uint64_t size_mib, int64_t fill_pct, const Summary& cycles) {
    const std::string note =
        std::string(impl == Impl::Sable ? "sable" : "seed") + "_" + size_name(size_mib) + "_" + std::to_string(fill_pct) + "pct";
    char line[256];
    snprintf(line, sizeof line, "BENCH page_alloc_free unit=cycles n=%zu median=%.0f p99=%.0f min=%.0f note=%s",
             cycles.n, cycles.median, cycles.p99, cycles.min, note.c_str());
    g_bench_lines.emplace_back(line);
    const double ns_per_cycle = 1e9 / g_tsc_hz;
    snprintf(line, sizeof line, "BENCH page_alloc_free unit=ns n=%zu median=%.1f p99=%.1f min=%.1f note=%s",
             cycles.n, cycles.median * ns_per_cycle, cycles.p99 * ns_per_cycle, cycles.min * ns_per_cycle,
             note.c_str());
    g_bench_lines.emplace_back(line);
}

// Each Google Benchmark iteration is one sample of `pairs_per_sample` allocate+free pairs timed
// with the TSC; `warmup_samples` untimed samples come first. `pair` does one allocate + free.
template <typename Pair>
void sample(benchmark::State& state, Impl impl, uint64_t pairs_per_sample, int warmup_samples, Pair pair) {
    for (int i = 0; i < warmup_samples; ++i)
        for (uint64_t p = 0; p < pairs_per_sample; ++p) pair();
    std::vector<double> per_op_cycles;
    per_op_cycles.reserve(static_cast<size_t>(state.max_iterations));
    for (auto _ : state) {
        const uint64_t start = read_tsc();
        for (uint64_t p = 0; p < pairs_per_sample; ++p) pair();
        const uint64_t end = read_tsc();
        per_op_cycles.push_back(static_cast<double>(end - start) / static_cast<double>(pairs_per_sample));
    }
    const Summary cycles = summarize(std::move(per_op_cycles));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * pairs_per_sample));
    state.counters["cyc_median"] = cycles.median;
    state.counters["cyc_p99"] = cycles.p99;
    state.counters["cyc_min"] = cycles.min;
    record(impl, static_cast<uint64_t>(state.range(0)), state.range(1), cycles);
}

// Args: simulated RAM in MiB, percent of frames allocated before timing. All RAM is usable.
// The allocator is built here and dropped on return, so one size's tables are alive at a time.
void bm_sable(benchmark::State& state) {
    const uint64_t frame_count = static_cast<uint64_t>(state.range(0)) * kMiB / mm::kPageSize;
    const uint64_t fill = frame_count * static_cast<uint64_t>(state.range(1)) / 100;
    std::vector<uint8_t> metadata(PageFrameAllocator::metadata_bytes(frame_count));
    PageFrameAllocator alloc;
    if (!alloc.init(frame_count, {metadata.data(), metadata.size()})) {
        state.SkipWithError("init failed");
        return;
    }
    alloc.add_free_range({0, frame_count * mm::kPageSize});
    for (uint64_t i = 0; i < fill; ++i)
        if (!alloc.allocate(PageState::Kernel).ok()) {
            state.SkipWithError("fill failed");
            return;
        }
    sample(state, Impl::Sable, 64, 1000, [&] {
        auto frame = alloc.allocate(PageState::Kernel);
        benchmark::DoNotOptimize(frame);
        alloc.free(frame.value());
    });
}

// One pair per sample: a single scan already takes microseconds to tens of milliseconds.
void bm_seed(benchmark::State& state) {
    const uint64_t frame_count = static_cast<uint64_t>(state.range(0)) * kMiB / mm::kPageSize;
    const uint64_t fill = frame_count * static_cast<uint64_t>(state.range(1)) / 100;
    SeedAvlScanAllocator alloc;
    alloc.init(frame_count, {{0, frame_count * mm::kPageSize}});
    if (alloc.allocate_lowest(fill) != fill) {
        state.SkipWithError("fill failed");
        return;
    }
    sample(state, Impl::Seed, 1, 2, [&] {
        const uint64_t frame = alloc.allocate();
        benchmark::DoNotOptimize(frame);
        alloc.free(frame);
    });
}

}  // namespace

int main(int argc, char** argv) {
    g_tsc_hz = calibrate_tsc_hz();

    // Sizes in MiB with the seed's sample count: its 99 % scan of 256 GiB walks 512 MB per call.
    struct Size {
        int64_t mib;
        int64_t seed_samples;
    };
    const Size sizes[] = {{128, 5000}, {4 * 1024, 1000}, {64 * 1024, 200}, {256 * 1024, 200}};
    for (const Size& size : sizes) {
        for (int64_t fill_pct : {50, 99}) {
            benchmark::RegisterBenchmark("page_alloc_free/sable", bm_sable)
                ->Args({size.mib, fill_pct})
                ->ArgNames({"MiB", "pct"})
                ->Iterations(20000)
                ->Unit(benchmark::kNanosecond);
        }
        for (int64_t fill_pct : {50, 99}) {
            benchmark::RegisterBenchmark("page_alloc_free/seed", bm_seed)
                ->Args({size.mib, fill_pct})
                ->ArgNames({"MiB", "pct"})
                ->Iterations(size.seed_samples)
                ->Unit(benchmark::kMicrosecond);
        }
    }

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();

    const auto hz = static_cast<unsigned long long>(g_tsc_hz);
    printf("BENCH tsc_hz unit=hz n=1 median=%llu p99=%llu min=%llu\n", hz, hz, hz);
    for (const std::string& line : g_bench_lines) printf("%s\n", line.c_str());
    return 0;
}
