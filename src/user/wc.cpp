// wc: counts the lines, words and bytes of standard input and prints "<lines> <words> <bytes>".
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int, char**) {
    static char buffer[4096];
    uint64_t lines = 0, words = 0, bytes = 0;
    bool in_word = false;  // carried across reads: a word may straddle two
    for (;;) {
        ssize_t got = read(0, buffer, sizeof buffer);
        if (got == 0) break;
        if (got < 0) {
            dprintf(2, "wc: read: %s\n", strerror(errno));
            return 1;
        }
        bytes += static_cast<uint64_t>(got);
        for (ssize_t i = 0; i < got; ++i) {
            const char c = buffer[i];
            if (c == '\n') ++lines;
            const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
                               c == '\f';
            if (!space && !in_word) ++words;
            in_word = !space;
        }
    }
    printf("%lu %lu %lu\n", lines, words, bytes);
    return 0;
}
