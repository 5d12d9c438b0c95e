#ifndef K8SLB_CSPAWN_SHIM_H
#define K8SLB_CSPAWN_SHIM_H
/* No _GNU_SOURCE here: headers included under other feature macros than Swift's Glibc module
   define fd_set differently, and the modules then conflict (CLibc keeps to malloc.h/sched.h). */
#include <spawn.h>

/* glibc 2.34+: the child closes every descriptor from `low` up before exec. spawn.h declares it
   only under _GNU_SOURCE. */
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int low);
#endif
