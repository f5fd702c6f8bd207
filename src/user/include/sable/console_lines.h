/*
 * The lines of the console interleaving test (sable.test=console, docs/testing.md): every writer
 * — a kernel task or a `lines` user process — prints numbered lines
 *
 *     LINE <writer> <seq> <filler> end
 *
 * where <writer> is k<n> (kernel) or u<n> (user), <seq> counts from 0 and <filler> is
 * SABLE_LINE_FILLER letters that depend on <seq>, so a line mixed with another is seen.
 * tools/check-console-lines recomputes the filler from the same rule to check the serial log.
 * Kernel and user programs share this header; C and C++ compatible, freestanding.
 */
#ifndef SABLE_CONSOLE_LINES_H
#define SABLE_CONSOLE_LINES_H

#define SABLE_LINE_FILLER 32

/* Writes the filler for line `seq` into `out` (SABLE_LINE_FILLER letters and a NUL). */
static inline void sable_line_filler(unsigned seq, char* out) {
    for (unsigned i = 0; i < SABLE_LINE_FILLER; ++i) out[i] = (char)('a' + (seq * 7 + i) % 26);
    out[SABLE_LINE_FILLER] = '\0';
}

#endif
