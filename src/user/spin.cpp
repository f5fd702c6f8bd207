// spin: runs forever without a system call, for kill and preemption demos.
#include <stdint.h>

int main(int, char**) {
    // The volatile counter keeps the loop: C++ lets a compiler delete a side-effect-free one.
    volatile uint64_t iterations = 0;
    for (;;) iterations = iterations + 1;
}
