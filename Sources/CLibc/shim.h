#ifndef K8SLB_CLIBC_SHIM_H
#define K8SLB_CLIBC_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <sched.h>

/* Returns freed heap memory to the kernel (glibc keeps it otherwise). 1 if memory was released. */
static inline int clibc_malloc_trim(void) {
    return malloc_trim(0);
}

/* Moves the calling thread into the network namespace open at `fd` (tests use it to act
   inside namespaces they created). Returns 0 or -1 with errno. */
static inline int clibc_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET);
}

/* glibc's <sys/fsuid.h> declaration, written out: including the header here (under _GNU_SOURCE)
   pulls in an fd_set that clashes with other modules' (a clean build fails; see CSpawn). */
extern int setfsuid(unsigned int uid);

/* Sets the calling thread's filesystem uid (files it creates get this owner); returns the previous
   one. Needs CAP_SETUID to change it. Per thread: glibc does not broadcast it. */
static inline int clibc_setfsuid(unsigned int uid) {
    return setfsuid(uid);
}
#endif
