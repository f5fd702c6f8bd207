// The host's arch contract keeps state a test can inspect and steer (test/fake_arch/fake_arch.cpp):
// the interrupt flag and how deeply it is disabled on each thread, the address space loaded,
// IPIs sent, TLB pages invalidated and spin-wait pauses, and a user memory window whose pages can
// be made to fault, so copy_user fails where the real one would.
#pragma once

#include <stdint.h>

#include <utility>
#include <vector>

namespace fake_arch {

// This thread: is the (fake) interrupt flag on, and how many save_and_disable calls are open.
bool interrupts_enabled();
unsigned disable_depth();

// User memory: [base, base + size) backed by host memory (zeroed). copy_user treats pointers in
// the window as user addresses; anything else is kernel memory and copied directly.
void map_user_window(uint64_t base, uint64_t size);
uint8_t* user_bytes(uint64_t user_address);  // host pointer to a user byte, for checking
// A copy touching the 4 KiB page at `user_address` copies up to it, then fails.
void fault_user_page(uint64_t user_address);
uint64_t user_faults();  // copies that failed so far

// cpu_relax calls so far, on any thread: a waiter spinning for a lock shows here.
uint64_t relax_count();

uint64_t loaded_address_space();
std::vector<std::pair<uint32_t, uint8_t>> sent_ipis();  // (APIC id, vector)
std::vector<uint64_t> invalidated_pages();

// Back to the start: interrupts on for this thread, no window, nothing recorded.
void reset();

}  // namespace fake_arch
