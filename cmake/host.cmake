# Host build: the portable modules under ASan+UBSan with GoogleTest, and the QEMU system tests
# (or, with SABLE_COVERAGE, the unit tests alone with coverage counters).
# Portable sources get the kernel's language flags (no exceptions, no RTTI); only *_test.cpp
# files relax them, because GoogleTest needs both.
enable_testing()

set(SABLE_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

# SABLE_COVERAGE (tools/coverage, build/coverage): the portable modules carry Clang's source-based
# coverage counters and the build holds only the host unit tests. Sanitizers are left out there:
# the host preset already runs the same tests under them, and the coverage run is faster without
# them. Fuzzers, benchmarks and the QEMU system tests are left out too: fuzz inputs check only
# memory safety, so lines they reach would count as tested without being checked, and system
# tests need the kernel ISO.
option(SABLE_COVERAGE "Host unit tests only, with line coverage of the portable modules" OFF)
if(SABLE_COVERAGE)
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "SABLE_COVERAGE needs Clang (source-based coverage)")
    endif()
    set(SABLE_HOST_INSTRUMENTATION -fprofile-instr-generate -fcoverage-mapping)
    # One profile per test binary: merged together, the binaries' records of one function can
    # disagree (llvm-cov drops them as "mismatched data"), so tools/coverage merges per binary.
    set(SABLE_COVERAGE_PROFILE_DIR ${CMAKE_BINARY_DIR}/profiles)
    # What tools/coverage counts: each portable module's sources, one "<module> <path>" a line.
    set(manifest "")
    foreach(module IN LISTS SABLE_MODULES)
        foreach(source IN LISTS SABLE_PORTABLE_${module})
            string(APPEND manifest "${module} ${source}\n")
        endforeach()
    endforeach()
    file(WRITE ${CMAKE_BINARY_DIR}/portable-sources.txt "${manifest}")
else()
    set(SABLE_HOST_INSTRUMENTATION ${SABLE_SANITIZERS})
endif()

# The same module boundaries as the kernel (cmake/modules.cmake), with the host's arch contract:
# arch.hpp, the fake's impl.hpp (test/fake_arch) and the real x86-64 page-table encoding, which is
# pure arithmetic.
include(cmake/modules.cmake)
set(SABLE_HOST_CONTRACT_FILES
    ${PROJECT_SOURCE_DIR}/src/arch/arch.hpp
    ${PROJECT_SOURCE_DIR}/test/fake_arch/arch/impl.hpp
    ${PROJECT_SOURCE_DIR}/src/arch/x86_64/include/arch/pte.hpp
    ${PROJECT_SOURCE_DIR}/src/arch/x86_64/include/arch/x86_defs.h)

# One static library per module with portable sources, each against its own view.
foreach(module IN LISTS SABLE_MODULES)
    if(NOT SABLE_PORTABLE_${module})
        continue()
    endif()
    sable_module_view(view ${module} host-${module} ${SABLE_HOST_CONTRACT_FILES})
    add_library(sable_host_${module} STATIC ${SABLE_PORTABLE_${module}})
    target_include_directories(sable_host_${module} PRIVATE ${view})
    target_compile_options(sable_host_${module} PRIVATE -fno-exceptions -fno-rtti -Wall -Wextra -Werror=return-type)
    target_compile_options(sable_host_${module} PUBLIC ${SABLE_HOST_INSTRUMENTATION} -g)
    target_link_options(sable_host_${module} PUBLIC ${SABLE_HOST_INSTRUMENTATION})
    foreach(dependency IN LISTS SABLE_DEPS_${module})
        if(TARGET sable_host_${dependency})
            target_link_libraries(sable_host_${module} PUBLIC sable_host_${dependency})
        endif()
    endforeach()
    list(APPEND SABLE_HOST_MODULE_LIBRARIES sable_host_${module})
endforeach()

# The boundary itself is tested: against mm's view a header mm may use compiles, and one from a
# module above it (sched) is not found — as in the kernel build, where that fails the build.
set(layering ${CMAKE_BINARY_DIR}/layering)
file(WRITE ${layering}/right_way.cpp "#include \"lib/format.hpp\"\n#include \"arch/arch.hpp\"\n")
file(WRITE ${layering}/wrong_way.cpp "#include \"sched/scheduler.hpp\"\n")
add_test(NAME build.module_view_allows_dependencies
         COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only -I${SABLE_VIEW_ROOT}/host-mm ${layering}/right_way.cpp)
add_test(NAME build.module_view_rejects_wrong_way_include
         COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only -I${SABLE_VIEW_ROOT}/host-mm ${layering}/wrong_way.cpp)
set_tests_properties(build.module_view_rejects_wrong_way_include PROPERTIES
                     PASS_REGULAR_EXPRESSION "'sched/scheduler.hpp' file not found")
set_tests_properties(build.module_view_allows_dependencies build.module_view_rejects_wrong_way_include
                     PROPERTIES LABELS host TIMEOUT 60)

# Tests see every portable folder, the host contract and test/ (support code, data).
sable_include_view(SABLE_HOST_TEST_VIEW host-tests FOLDERS lib boot drivers mm sched smp proc abi
                   ARCH_FILES ${SABLE_HOST_CONTRACT_FILES})
add_library(sable_portable INTERFACE)
target_link_libraries(sable_portable INTERFACE ${SABLE_HOST_MODULE_LIBRARIES})
target_include_directories(sable_portable INTERFACE ${SABLE_HOST_TEST_VIEW} ${PROJECT_SOURCE_DIR}/test)

find_package(GTest REQUIRED)
include(GoogleTest)

# sable_host_test(<name> <sources...>): one GoogleTest binary, every TEST registered with ctest.
function(sable_host_test name)
    add_executable(${name} ${ARGN})
    target_link_libraries(${name} PRIVATE sable_portable GTest::gtest_main)
    set(coverage_properties "")
    if(SABLE_COVERAGE)
        # %4m: the runs of one binary merge into at most four files as they end.
        set(coverage_properties ENVIRONMENT "LLVM_PROFILE_FILE=${SABLE_COVERAGE_PROFILE_DIR}/${name}-%4m.profraw")
    endif()
    gtest_discover_tests(${name} PROPERTIES LABELS host TIMEOUT 60 ${coverage_properties} DISCOVERY_TIMEOUT 60)
endfunction()

# The stateful fake arch and the host stand-ins for kernel services (threads as tasks, a console
# that collects its output), for tests of kernel code that locks, blocks and copies user memory.
add_library(sable_host_fakes STATIC test/fake_arch/fake_arch.cpp test/fake_kernel/fake_kernel.cpp)
target_link_libraries(sable_host_fakes PUBLIC sable_portable)

sable_host_test(format_test test/lib/format_test.cpp)
sable_host_test(cmdline_test test/lib/cmdline_test.cpp)
sable_host_test(lock_debug_test test/lib/lock_debug_test.cpp)
sable_host_test(watchdog_rule_test test/lib/watchdog_rule_test.cpp)
sable_host_test(rate_window_test test/lib/rate_window_test.cpp)
sable_host_test(multiboot2_test test/boot/multiboot2_test.cpp)
sable_host_test(text_grid_test test/drivers/text_grid_test.cpp)
sable_host_test(console_font_test test/drivers/console_font_test.cpp)
sable_host_test(framebuffer_text_test test/drivers/framebuffer_text_test.cpp)
# Not a test itself: the system tests run it on a screendump and the serial log.
add_executable(screen_check test/drivers/screen_check.cpp)
target_link_libraries(screen_check PRIVATE sable_portable)
sable_host_test(page_frame_allocator_test test/mm/page_frame_allocator_test.cpp)
sable_host_test(frame_cache_test test/mm/frame_cache_test.cpp)
sable_host_test(symbols_test test/lib/symbols_test.cpp)
sable_host_test(unwind_test test/lib/unwind_test.cpp)
sable_host_test(address_space_test test/mm/address_space_test.cpp)
sable_host_test(heap_test test/mm/heap_test.cpp)
sable_host_test(scheduler_test test/sched/scheduler_test.cpp)
sable_host_test(firmware_tables_test test/smp/firmware_tables_test.cpp)
target_compile_definitions(firmware_tables_test PRIVATE SABLE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/test")
sable_host_test(acpi_power_test test/smp/acpi_power_test.cpp)
target_compile_definitions(acpi_power_test PRIVATE SABLE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/test")
sable_host_test(elf_test test/lib/elf_test.cpp)
sable_host_test(placement_test test/sched/placement_test.cpp)
sable_host_test(task_list_test test/sched/task_list_test.cpp)
target_link_libraries(task_list_test PRIVATE sable_host_fakes)
sable_host_test(pipe_test test/proc/pipe_test.cpp)
target_link_libraries(pipe_test PRIVATE sable_host_fakes)
sable_host_test(process_table_test test/proc/process_table_test.cpp)
target_link_libraries(process_table_test PRIVATE sable_host_fakes)
sable_host_test(region_list_test test/proc/region_list_test.cpp)
sable_host_test(console_file_test test/proc/console_file_test.cpp)
target_link_libraries(console_file_test PRIVATE sable_host_fakes)
sable_host_test(console_input_test test/drivers/console_input_test.cpp)
sable_host_test(user_tables_test test/mm/user_tables_test.cpp)
sable_host_test(user_memory_test test/mm/user_memory_test.cpp)
target_link_libraries(user_memory_test PRIVATE sable_host_fakes)
sable_host_test(cpu_mask_test test/lib/cpu_mask_test.cpp)
sable_host_test(spinlock_test test/lib/spinlock_test.cpp)
target_link_libraries(spinlock_test PRIVATE sable_host_fakes)
sable_host_test(console_sink_test test/lib/console_sink_test.cpp)
target_link_libraries(console_sink_test PRIVATE sable_host_fakes)
target_compile_definitions(elf_test PRIVATE SABLE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/test")

if(SABLE_COVERAGE)
    return()
endif()

# libFuzzer targets for every parser of untrusted input (clang only). ctest runs each for a short
# time seeded with the real dumps; run one longer by hand, e.g.
#   build/host/mp_table_fuzz -max_total_time=600 build/host/fuzz-corpus/mp_table test/smp/data
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    set(SABLE_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1)
    add_library(sable_portable_fuzz STATIC ${SABLE_PORTABLE_SOURCES})
    target_include_directories(sable_portable_fuzz PUBLIC ${SABLE_HOST_TEST_VIEW} ${PROJECT_SOURCE_DIR}/test)
    target_compile_options(sable_portable_fuzz PRIVATE -fno-exceptions -fno-rtti
                           -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -g -O1)
    # Seeds default to the firmware dumps; a fuzzer whose input is something else names its own.
    set(SABLE_FUZZ_SEEDS_elf ${PROJECT_SOURCE_DIR}/test/fuzz/elf_corpus)
    foreach(fuzzer IN ITEMS madt mp_table multiboot2 elf acpi_power)
        add_executable(${fuzzer}_fuzz test/fuzz/${fuzzer}_fuzz.cpp)
        target_compile_options(${fuzzer}_fuzz PRIVATE ${SABLE_FUZZ_FLAGS})
        target_link_options(${fuzzer}_fuzz PRIVATE ${SABLE_FUZZ_FLAGS})
        target_link_libraries(${fuzzer}_fuzz PRIVATE sable_portable_fuzz)
        set(corpus ${CMAKE_BINARY_DIR}/fuzz-corpus/${fuzzer})
        file(MAKE_DIRECTORY ${corpus})
        set(seeds ${PROJECT_SOURCE_DIR}/test/smp/data)
        if(DEFINED SABLE_FUZZ_SEEDS_${fuzzer})
            set(seeds ${SABLE_FUZZ_SEEDS_${fuzzer}})
        endif()
        add_test(NAME fuzz.${fuzzer} COMMAND ${fuzzer}_fuzz -max_total_time=10 -print_final_stats=1
                 -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz-corpus/${fuzzer}- ${corpus} ${seeds})
        set_tests_properties(fuzz.${fuzzer} PROPERTIES LABELS host TIMEOUT 60)
    endforeach()
endif()

# Benchmarks are programs, not tests: optimised, no sanitizers, run by hand
# (build/host/page_frame_allocator_bench), printing BENCH lines (docs/testing.md).
find_package(benchmark QUIET)
if(benchmark_FOUND)
    add_library(sable_portable_bench STATIC ${SABLE_PORTABLE_SOURCES})
    target_include_directories(sable_portable_bench PUBLIC ${SABLE_HOST_TEST_VIEW})
    target_compile_options(sable_portable_bench PRIVATE -O2 -fno-exceptions -fno-rtti)
    add_executable(page_frame_allocator_bench test/mm/page_frame_allocator_bench.cpp)
    target_compile_options(page_frame_allocator_bench PRIVATE -O2)
    target_link_libraries(page_frame_allocator_bench PRIVATE sable_portable_bench benchmark::benchmark)
else()
    message(STATUS "Google Benchmark not found (apt-get install libbenchmark-dev): host benchmarks skipped")
endif()

include(cmake/system_tests.cmake)
