// lines <writer> <count>: prints <count> numbered lines as fast as it can, one write each, for
// the console interleaving test (<sable/console_lines.h>). Exits 1 if a write fails.
#include <sable/console_lines.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
    if (argc != 3) {
        dprintf(2, "usage: lines <writer> <count>\n");
        return 2;
    }
    const int count = atoi(argv[2]);
    char filler[SABLE_LINE_FILLER + 1];
    for (int seq = 0; seq < count; ++seq) {
        sable_line_filler(static_cast<unsigned>(seq), filler);
        if (printf("LINE %s %d %s end\n", argv[1], seq, filler) < 0) return 1;
    }
    return 0;
}
