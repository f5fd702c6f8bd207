# Host build: the portable modules under ASan+UBSan with GoogleTest, and the QEMU system tests.
# Portable sources get the kernel's language flags (no exceptions, no RTTI); only *_test.cpp
# files relax them, because GoogleTest needs both.
enable_testing()

set(SABLE_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

add_library(sable_portable STATIC ${SABLE_PORTABLE_SOURCES})
target_include_directories(sable_portable PUBLIC src test/fake_arch test)
target_compile_options(sable_portable PRIVATE -fno-exceptions -fno-rtti -Wall -Wextra -Werror=return-type)
target_compile_options(sable_portable PUBLIC ${SABLE_SANITIZERS} -g)
target_link_options(sable_portable PUBLIC ${SABLE_SANITIZERS})

find_package(GTest REQUIRED)
include(GoogleTest)

# sable_host_test(<name> <sources...>): one GoogleTest binary, every TEST registered with ctest.
function(sable_host_test name)
    add_executable(${name} ${ARGN})
    target_link_libraries(${name} PRIVATE sable_portable GTest::gtest_main)
    gtest_discover_tests(${name} PROPERTIES LABELS host TIMEOUT 60 DISCOVERY_TIMEOUT 60)
endfunction()

sable_host_test(format_test test/lib/format_test.cpp)
sable_host_test(cmdline_test test/lib/cmdline_test.cpp)
sable_host_test(multiboot2_test test/boot/multiboot2_test.cpp)
sable_host_test(page_frame_allocator_test test/mm/page_frame_allocator_test.cpp)
sable_host_test(symbols_test test/lib/symbols_test.cpp)
sable_host_test(address_space_test test/mm/address_space_test.cpp)
sable_host_test(heap_test test/mm/heap_test.cpp)
sable_host_test(scheduler_test test/sched/scheduler_test.cpp)
sable_host_test(firmware_tables_test test/smp/firmware_tables_test.cpp)
target_compile_definitions(firmware_tables_test PRIVATE SABLE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/test")
sable_host_test(elf_test test/lib/elf_test.cpp)
target_compile_definitions(elf_test PRIVATE SABLE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/test")

# libFuzzer targets for every parser of untrusted input (clang only). ctest runs each for a short
# time seeded with the real dumps; run one longer by hand, e.g.
#   build/host/mp_table_fuzz -max_total_time=600 build/host/fuzz-corpus/mp_table test/smp/data
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    set(SABLE_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1)
    add_library(sable_portable_fuzz STATIC ${SABLE_PORTABLE_SOURCES})
    target_include_directories(sable_portable_fuzz PUBLIC src test/fake_arch test)
    target_compile_options(sable_portable_fuzz PRIVATE -fno-exceptions -fno-rtti
                           -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -g -O1)
    # Seeds default to the firmware dumps; a fuzzer whose input is something else names its own.
    set(SABLE_FUZZ_SEEDS_elf ${PROJECT_SOURCE_DIR}/test/fuzz/elf_corpus)
    foreach(fuzzer IN ITEMS madt mp_table multiboot2 elf)
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
# (build/host/page_frame_allocator_bench), printing BENCH lines (bench-format.md).
find_package(benchmark QUIET)
if(benchmark_FOUND)
    add_library(sable_portable_bench STATIC ${SABLE_PORTABLE_SOURCES})
    target_include_directories(sable_portable_bench PUBLIC src test/fake_arch)
    target_compile_options(sable_portable_bench PRIVATE -O2 -fno-exceptions -fno-rtti)
    add_executable(page_frame_allocator_bench test/mm/page_frame_allocator_bench.cpp)
    target_compile_options(page_frame_allocator_bench PRIVATE -O2)
    target_link_libraries(page_frame_allocator_bench PRIVATE sable_portable_bench benchmark::benchmark)
else()
    message(STATUS "Google Benchmark not found (apt-get install libbenchmark-dev): host benchmarks skipped")
endif()

include(cmake/system_tests.cmake)
