#ifndef K8SLB_ANNOUNCE_H
#define K8SLB_ANNOUNCE_H
#include <stdint.h>

/* Announces an address this node holds to its link, so neighbours (clients, routers, switches)
   send to this node's MAC at once: a gratuitous ARP request for an IPv4 address, an unsolicited
   Neighbor Advertisement (override flag) to all nodes for an IPv6 address. Sent from the calling
   thread's network namespace. `address` is 4 or 16 bytes in network order. Returns 0, or an errno
   value. Needs CAP_NET_RAW. */
int k8slb_announce(const char *interface, const uint8_t *address, int length);

/* An NDP responder's socket on `interface` (AF_PACKET, every IPv6 frame to this host's or any
   multicast MAC, the interface in all-multicast mode while it is open, a filter letting only
   Neighbor Solicitations through): it answers for addresses bound elsewhere (`lo`), which the
   kernel does not, without joining a solicited-node group per address (docs/architecture.md,
   "IPv6 followers"). Non-blocking. Returns the descriptor, or -errno. Fills in the interface's
   index and MAC. Needs CAP_NET_RAW. */
int k8slb_ndp_open(const char *interface, int *index, uint8_t mac[6]);

/* Reads one frame. Returns 1 and fills in `target`, the soliciting host's address (`source`,
   all zero for duplicate address detection) and MAC for a well-formed Neighbor Solicitation
   (hop limit 255, code 0); 0 for anything else; -errno on error (-EAGAIN: nothing to read). */
int k8slb_ndp_read(int fd, uint8_t target[16], uint8_t source[16], uint8_t source_mac[6]);

/* `k8slb_ndp_read`'s parser: 1 and the fields for a well-formed Neighbor Solicitation in the
   Ethernet frame of `n` bytes at `frame`, else 0 (never reads past `n`; a fuzz target). */
#include <stddef.h>
int k8slb_ndp_parse(const uint8_t *frame, size_t n, uint8_t target[16], uint8_t source[16],
                    uint8_t source_mac[6]);

/* Answers a solicitation for `target` with a Neighbor Advertisement (override, this node's MAC):
   solicited and unicast to `source` at `source_mac`, or, for duplicate address detection
   (`source` all zero), to all nodes. Returns 0 or an errno value. */
int k8slb_ndp_answer(int fd, int index, const uint8_t mac[6], const uint8_t target[16], const uint8_t source[16],
                     const uint8_t source_mac[6]);

#endif
