// hello: says which process and CPU it runs on.
#include <stdio.h>
#include <unistd.h>

int main(int, char**) {
    printf("hello from pid %d on cpu %d\n", getpid(), getcpu());
    return 0;
}
