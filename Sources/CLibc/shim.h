#ifndef K8SLB_CLIBC_SHIM_H
#define K8SLB_CLIBC_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <fcntl.h>
#include <unistd.h>

/* Returns freed heap memory to the kernel (glibc keeps it otherwise). 1 if memory was released. */
static inline int clibc_malloc_trim(void) {
    return malloc_trim(0);
}

/* Moves the calling thread into the network namespace open at `fd` (tests use it to act
   inside namespaces they created). Returns 0 or -1 with errno. */
static inline int clibc_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET);
}
/* glibc 2.34+: the child closes every descriptor from `low` up before exec (declared here because
   spawn.h only declares it under __USE_MISC, which Swift's Glibc module may lack). */
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int low);

static inline int clibc_spawn_closefrom(posix_spawn_file_actions_t *actions, int low) {
    return posix_spawn_file_actions_addclosefrom_np(actions, low);
}

/* Spawn attributes for a child that starts clean: no signal blocked (Swift's threads block nearly
   all) and every signal at its default disposition (an ignored SIGPIPE would otherwise carry over
   through exec). */
static inline int clibc_spawnattr_clean(posix_spawnattr_t *attr) {
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawnattr_setsigmask(attr, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(attr, &all);
    if (rc == 0) rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    return rc;
}
/* A pipe whose ends close at exec (pipe2 is not visible through Swift's Glibc module). */
static inline int clibc_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}
#endif
