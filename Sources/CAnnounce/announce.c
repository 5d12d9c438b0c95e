#include "announce.h"

#include <errno.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The interface's MAC address and index. */
static int link_address(int fd, const char *interface, uint8_t mac[6], int *index) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, interface, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) return errno;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    *index = (int)if_nametoindex(interface);
    return *index == 0 ? ENODEV : 0;
}

static int garp(const char *interface, const uint8_t address[4]) {
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
    if (fd < 0) return errno;
    uint8_t mac[6];
    int index = 0;
    int err = link_address(fd, interface, mac, &index);
    if (err) {
        close(fd);
        return err;
    }
    uint8_t frame[42];
    memset(frame, 0xff, 6);          /* broadcast */
    memcpy(frame + 6, mac, 6);
    frame[12] = 0x08;                /* ARP */
    frame[13] = 0x06;
    uint8_t *arp = frame + 14;
    arp[0] = 0; arp[1] = 1;          /* Ethernet */
    arp[2] = 0x08; arp[3] = 0x00;    /* IPv4 */
    arp[4] = 6; arp[5] = 4;
    arp[6] = 0; arp[7] = 1;          /* request: sender and target are the address */
    memcpy(arp + 8, mac, 6);
    memcpy(arp + 14, address, 4);
    memset(arp + 18, 0, 6);
    memcpy(arp + 24, address, 4);
    struct sockaddr_ll to;
    memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ETH_P_ARP);
    to.sll_ifindex = index;
    to.sll_halen = 6;
    memset(to.sll_addr, 0xff, 6);
    ssize_t sent = sendto(fd, frame, sizeof frame, 0, (struct sockaddr *)&to, sizeof to);
    err = sent < 0 ? errno : 0;
    close(fd);
    return err;
}

static int unsolicited_na(const char *interface, const uint8_t address[16]) {
    int fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    if (fd < 0) return errno;
    uint8_t mac[6];
    int index = 0;
    int err = link_address(fd, interface, mac, &index);
    int hops = 255;
    int on = 1;
    struct sockaddr_in6 from;
    memset(&from, 0, sizeof from);
    from.sin6_family = AF_INET6;
    memcpy(&from.sin6_addr, address, 16);
    if (!err && (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0
                 || setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index) < 0
                 || setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &on, sizeof on) < 0
                 || bind(fd, (struct sockaddr *)&from, sizeof from) < 0))
        err = errno;
    if (err) {
        close(fd);
        return err;
    }
    uint8_t na[32];
    memset(na, 0, sizeof na);
    na[0] = ND_NEIGHBOR_ADVERT;      /* the kernel fills in the checksum */
    na[4] = 0x20;                    /* override */
    memcpy(na + 8, address, 16);
    na[24] = ND_OPT_TARGET_LINKADDR;
    na[25] = 1;
    memcpy(na + 26, mac, 6);
    struct sockaddr_in6 to;
    memset(&to, 0, sizeof to);
    to.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
    to.sin6_scope_id = (uint32_t)index;
    ssize_t sent = sendto(fd, na, sizeof na, 0, (struct sockaddr *)&to, sizeof to);
    err = sent < 0 ? errno : 0;
    close(fd);
    return err;
}

int k8slb_announce(const char *interface, const uint8_t *address, int length) {
    if (length == 4) return garp(interface, address);
    if (length == 16) return unsolicited_na(interface, address);
    return EINVAL;
}
