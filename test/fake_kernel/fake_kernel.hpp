// Kernel services that host-tested kernel code calls but that only exist in the kernel, done
// with host threads (test/fake_kernel/fake_kernel.cpp): tasks block on wait queues and are woken
// like the real ones (a condition re-checked under a lock, so no wake-up is lost), the console
// collects its output, panic() ends the test, and the kernel's nothrow allocations can be made to
// fail. Blocking with the fake interrupt flag off — that is, while holding a spinlock — fails the
// test, as it would hang a CPU in the kernel.
#pragma once

#include <stdint.h>

#include <string>

namespace fake_kernel {

std::string console_output();
void clear_console_output();
uint64_t blocks();  // times a task actually went to sleep on a wait queue

// Memory running out: the next `successes` allocations by `new (kstd::nothrow)` succeed, every
// one after them returns nullptr until allow_allocations().
void fail_allocations_after(uint64_t successes);
void allow_allocations();

}  // namespace fake_kernel
