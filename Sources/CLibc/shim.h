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

/* The actor renders configs of megabytes on every sync at scale (haproxy.cfg for 10,000 Services:
   a 20 MB buffer and an 11.8 MB String, then freed). glibc maps blocks that big afresh and unmaps
   them on free until its dynamic threshold catches up, and trims the heap's top back to the kernel
   past 128 KB: syncs faulted their buffers in page by page again (a fifth of the render at 10,000
   Services; the worst of five runs 50 ms against a median of 42). With this, blocks under 64 MB
   come from the heap and up to 64 MB of freed heap stays mapped: a sync reuses the last one's
   pages. A process whose configs are small never grows its heap that far, so it costs them nothing.
   Called once at start (the actor, CoreBenchmarks). */
static inline void clibc_keep_large_buffers(void) {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
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
