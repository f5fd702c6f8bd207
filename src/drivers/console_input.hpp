// Console input: the characters the COM1 and PS/2 keyboard interrupts deliver, in one ring that
// readers (the console file's line discipline) drain. Filled from interrupt handlers on one CPU
// at a time (single producer), read by one reader at a time (single consumer).
#pragma once

namespace drivers::console_input {

// From an interrupt handler: queues `c` (dropped when the ring is full: an IRQ never blocks)
// and calls the hook.
void push(char c);
// Non-blocking: false when empty.
bool read(char& out);
bool available();
// Called after each character is queued, in interrupt context (the reader's wake-up).
void set_hook(void (*hook)());

}  // namespace drivers::console_input
