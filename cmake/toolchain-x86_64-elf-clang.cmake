# Cross toolchain for the Sable kernel: Clang targeting bare-metal x86-64 ELF, linked by LLD.
# Freestanding on purpose: nothing from the host's C or C++ library may leak into the kernel.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

# Debian's plain `clang` is the default version; versioned names cover machines without it.
find_program(SABLE_CLANG NAMES clang clang-14 clang-15 clang-16 clang-17 clang-18 REQUIRED)
find_program(SABLE_CLANGXX NAMES clang++ clang++-14 clang++-15 clang++-16 clang++-17 clang++-18 REQUIRED)
find_program(SABLE_LLD NAMES ld.lld ld.lld-14 ld.lld-15 ld.lld-16 ld.lld-17 ld.lld-18 REQUIRED)

set(CMAKE_C_COMPILER ${SABLE_CLANG})
set(CMAKE_CXX_COMPILER ${SABLE_CLANGXX})
set(CMAKE_ASM_COMPILER ${SABLE_CLANG})
set(CMAKE_C_COMPILER_TARGET x86_64-unknown-none-elf)
set(CMAKE_CXX_COMPILER_TARGET x86_64-unknown-none-elf)
set(CMAKE_ASM_COMPILER_TARGET x86_64-unknown-none-elf)

# A bare-metal target cannot link a test executable during compiler checks.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# Executables are linked by LLD itself, not through the compiler driver: for a bare-metal ELF
# target Clang's driver hands the link to the GCC driver, which a machine with only Clang and LLD
# does not have. Link options are therefore LLD's own (no -Wl,), and compile flags never reach
# the link line.
set(CMAKE_LINKER ${SABLE_LLD})
foreach(language C CXX ASM)
    set(CMAKE_${language}_LINK_EXECUTABLE
        "<CMAKE_LINKER> <LINK_FLAGS> <OBJECTS> -o <TARGET> <LINK_LIBRARIES>")
endforeach()

set(SABLE_KERNEL_BUILD ON)
