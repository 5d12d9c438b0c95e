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

/* Sends `frame` on the interface at `index` to the link-layer address `to_mac`. 0 or errno. */
static int send_frame(int fd, int index, uint16_t protocol, const uint8_t to_mac[6], const uint8_t *frame, size_t len) {
    struct sockaddr_ll to;
    memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(protocol);
    to.sll_ifindex = index;
    to.sll_halen = 6;
    memcpy(to.sll_addr, to_mac, 6);
    return sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof to) < 0 ? errno : 0;
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
    err = send_frame(fd, index, ETH_P_ARP, frame, frame, sizeof frame); /* to broadcast, as the frame says */
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

/* ---- NDP responder ---- */

#include <fcntl.h>
#include <linux/filter.h>

int k8slb_ndp_open(const char *interface, int *index, uint8_t mac[6]) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IPV6));
    if (fd < 0) return -errno;
    int err = link_address(fd, interface, mac, index);
    if (err) {
        close(fd);
        return -err;
    }
    /* IPv6 (ethertype checked by the socket), next header ICMPv6 (58) at 14+6, hop limit 255 at
       14+7, ICMPv6 type 135 at 14+40: accept the frame, else drop it. */
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 5),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 21),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 255, 0, 3),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xFFFF),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    struct sockaddr_ll at;
    memset(&at, 0, sizeof at);
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_IPV6);
    at.sll_ifindex = *index;
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = *index;
    mr.mr_type = PACKET_MR_ALLMULTI;
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0
        || bind(fd, (struct sockaddr *)&at, sizeof at) < 0
        || setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
        err = errno;
        close(fd);
        return -err;
    }
    /* Frames that arrived between socket() and the filter: drain them. */
    uint8_t junk[2048];
    while (recv(fd, junk, sizeof junk, 0) > 0) {}
    return fd;
}

int k8slb_ndp_parse(const uint8_t *frame, size_t n, uint8_t target[16], uint8_t source[16],
                    uint8_t source_mac[6]) {
    /* Ethernet 14, IPv6 40, NS 24 (type, code, checksum, reserved, target). */
    if (n < 14 + 40 + 24) return 0;
    const uint8_t *ip6 = frame + 14;
    const uint8_t *ns = ip6 + 40;
    size_t payload = ((size_t)ip6[4] << 8) | ip6[5];
    if ((ip6[0] >> 4) != 6 || ip6[6] != 58 || ip6[7] != 255 || ns[0] != 135 || ns[1] != 0) return 0;
    if (payload < 24 || n < 14 + 40 + payload) return 0;
    if (ns[8] == 0xff) return 0; /* a multicast target is not valid */
    memcpy(target, ns + 8, 16);
    memcpy(source, ip6 + 8, 16);
    memcpy(source_mac, frame + 6, 6);
    /* The source link-layer address option, when given, is where to answer. */
    for (size_t at = 24; at + 8 <= payload;) {
        size_t len = (size_t)ns[at + 1] * 8;
        if (len == 0 || at + len > payload) return 0;
        if (ns[at] == ND_OPT_SOURCE_LINKADDR) memcpy(source_mac, ns + at + 2, 6);
        at += len;
    }
    return 1;
}

int k8slb_ndp_read(int fd, uint8_t target[16], uint8_t source[16], uint8_t source_mac[6]) {
    uint8_t frame[2048];
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(fd, frame, sizeof frame, 0, (struct sockaddr *)&from, &fromlen);
    if (n < 0) return -errno;
    /* Frames this host sent itself show up too: never answer those. */
    if (from.sll_pkttype == PACKET_OUTGOING) return 0;
    return k8slb_ndp_parse(frame, (size_t)n, target, source, source_mac);
}

/* The ICMPv6 checksum over the pseudo-header (source, destination, length, next header 58). */
static uint16_t icmp6_checksum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *data, size_t len) {
    uint32_t sum = 0;
    for (int i = 0; i < 16; i += 2) sum += ((uint32_t)src[i] << 8) | src[i + 1];
    for (int i = 0; i < 16; i += 2) sum += ((uint32_t)dst[i] << 8) | dst[i + 1];
    sum += (uint32_t)len;
    sum += 58;
    for (size_t i = 0; i + 1 < len; i += 2) sum += ((uint32_t)data[i] << 8) | data[i + 1];
    if (len & 1) sum += (uint32_t)data[len - 1] << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

int k8slb_ndp_answer(int fd, int index, const uint8_t mac[6], const uint8_t target[16], const uint8_t source[16],
                     const uint8_t source_mac[6]) {
    static const uint8_t unspecified[16] = {0};
    static const uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    int dad = memcmp(source, unspecified, 16) == 0;
    uint8_t frame[14 + 40 + 32];
    memset(frame, 0, sizeof frame);
    uint8_t *eth = frame, *ip6 = frame + 14, *na = frame + 54;
    const uint8_t *dst = dad ? all_nodes : source;
    if (dad) {
        const uint8_t mc[6] = {0x33, 0x33, 0, 0, 0, 1};
        memcpy(eth, mc, 6);
    } else {
        memcpy(eth, source_mac, 6);
    }
    memcpy(eth + 6, mac, 6);
    eth[12] = 0x86;
    eth[13] = 0xdd;
    ip6[0] = 0x60;
    ip6[5] = 32; /* payload length */
    ip6[6] = 58;
    ip6[7] = 255;
    memcpy(ip6 + 8, target, 16); /* from the address asked about (held here, on lo) */
    memcpy(ip6 + 24, dst, 16);
    na[0] = ND_NEIGHBOR_ADVERT;
    na[4] = dad ? 0x20 : 0x60; /* override; solicited unless answering a DAD probe */
    memcpy(na + 8, target, 16);
    na[24] = ND_OPT_TARGET_LINKADDR;
    na[25] = 1;
    memcpy(na + 26, mac, 6);
    uint16_t sum = icmp6_checksum(target, dst, na, 32);
    na[2] = (uint8_t)(sum >> 8);
    na[3] = (uint8_t)sum;
    return send_frame(fd, index, ETH_P_IPV6, eth, frame, sizeof frame);
}
