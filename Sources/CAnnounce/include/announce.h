#ifndef K8SLB_ANNOUNCE_H
#define K8SLB_ANNOUNCE_H
#include <stdint.h>

/* Announces an address this node holds to its link, so neighbours (clients, routers, switches)
   send to this node's MAC at once: a gratuitous ARP request for an IPv4 address, an unsolicited
   Neighbor Advertisement (override flag) to all nodes for an IPv6 address. Sent from the calling
   thread's network namespace. `address` is 4 or 16 bytes in network order. Returns 0, or an errno
   value. Needs CAP_NET_RAW. */
int k8slb_announce(const char *interface, const uint8_t *address, int length);

#endif
