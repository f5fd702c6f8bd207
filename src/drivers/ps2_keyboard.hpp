// PS/2 keyboard (the i8042 controller's first port, IRQ 1): scancode set 1 for the main block,
// with Shift and Ctrl, turned into console input characters.
#pragma once

namespace drivers::ps2_keyboard {

// Empties the controller's output buffer, so the first key press raises an interrupt.
void init();
// The IRQ 1 handler's work: reads the scancode and queues its character (if any) as input.
void on_interrupt();

}  // namespace drivers::ps2_keyboard
