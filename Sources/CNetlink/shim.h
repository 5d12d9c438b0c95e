#ifndef K8SLB_CNETLINK_SHIM_H
#define K8SLB_CNETLINK_SHIM_H
#include <net/if.h>
#include <linux/if_addr.h>
#include <netlink/netlink.h>
#include <netlink/version.h>
#include <netlink/socket.h>
#include <netlink/errno.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

/* The version of the libnl headers the actor was built against ("3.7.0"). */
static inline const char *cnetlink_version(void) {
    return LIBNL_STRING;
}
#endif
