/* Prints the loaded library's version after checking it serves this header. */
#include <objstore.h>
#include <stdio.h>

int main(void) {
    if (os_check_version(OS_VERSION_NUMBER) != OS_OK) {
        fprintf(stderr, "%s\n", os_last_error());
        return 1;
    }
    printf("%s\n", os_version());
    return 0;
}
