#ifndef K8SLB_CLIBC_SHIM_H
#define K8SLB_CLIBC_SHIM_H
#include <malloc.h>

/* Returns freed heap memory to the kernel (glibc keeps it otherwise). 1 if memory was released. */
static inline int clibc_malloc_trim(void) {
    return malloc_trim(0);
}
#endif
