// The kernel's stack protector (-fstack-protector-strong, cmake/kernel.cmake): the canary every
// protected function stores between its arrays and its return address and checks before it
// returns, and the panic when the check fails. docs/security.md has the cost.
#include <stdint.h>

#include "arch/arch.hpp"
#include "kernel/panic.hpp"
#include "kernel/symbols.hpp"

// The compiler reads this by name (-mstack-protector-guard=global: the kernel has no TLS). Zero
// until boot sets it, which is also what every frame set up before then saved.
extern "C" {
uint64_t __stack_chk_guard = 0;
}

namespace kernel {
namespace {
const char* g_canary_source = "none";
}

// A frame live while the canary changes would fail its own check: this function and its only
// caller, kernel_main (which never returns), carry none.
__attribute__((no_stack_protector)) void init_stack_protector() {
    uint64_t canary = arch::boot_entropy(&g_canary_source);
    // A zero low byte stops string copies (strcpy and kin end at NUL) from writing it back
    // unchanged past an array.
    canary &= ~uint64_t{0xFF};
    if (canary == 0) canary = 0xA5A5A5A5A5A5A500ull;
    __stack_chk_guard = canary;
}

const char* stack_canary_source() { return g_canary_source; }

}  // namespace kernel

// Called from the epilogue of the function whose canary changed: its return address lies inside
// that function, which the symbol table names.
extern "C" [[noreturn]] __attribute__((no_stack_protector)) void __stack_chk_fail() {
    const uint64_t in_function = reinterpret_cast<uint64_t>(__builtin_return_address(0)) - 1;
    const kstd::SymbolMatch match = kernel::symbols::lookup(in_function);
    if (match.name.empty())
        panic("stack smashed in the function at %p (its stack canary was overwritten)",
              reinterpret_cast<void*>(in_function));
    panic("stack smashed in %.*s (its stack canary was overwritten)", static_cast<int>(match.name.size()),
          match.name.data());
}
