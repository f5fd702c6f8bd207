// 16550 UART on COM1: the kernel's first console, usable from the first line of C++.
#pragma once

#include <stddef.h>

namespace drivers::uart16550 {

// Programs COM1 for 115200 baud 8N1 with FIFOs. Returns false when no UART answers the
// loopback test (real machines without a serial port), in which case writes are dropped.
bool init();
bool present();
void write(const char* text, size_t length);
// Receive interrupts on (IRQ 4): called once the IRQ is routed.
void enable_receive_interrupt();
// The IRQ 4 handler's work: queues every received byte as console input (CR as LF).
void on_interrupt();

}  // namespace drivers::uart16550
