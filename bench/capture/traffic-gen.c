// Paced UDP load for the benches: sends exactly COUNT datagrams of PAYLOAD bytes to IP:PORT at about PPS packets
// per second (0 = as fast as possible), in bursts, then prints what it achieved as JSON. Run it inside a test
// namespace only (the benches do).
//
// Two ways to send, the same 42 + PAYLOAD-byte IPv4/UDP frames on the wire:
// - `udp` (no IFACE): a connected UDP socket and sendmmsg(). The receiving namespace runs every datagram through
//   IP and UDP and, with no socket on PORT, tries an ICMP "port unreachable" for each (rate-limited, but the route
//   lookups happen first): half of the sending core goes there, and on 2 cores this generator tops out near
//   0.9 M packets/s.
// - `raw` (IFACE given): a packet socket with a TX ring on IFACE (PACKET_TX_RING, PACKET_QDISC_BYPASS), frames
//   built here with IFACE's MAC and IPv4 address as source. Their destination MAC is DSTMAC, by default a locally
//   administered address no interface owns: the receiving veth marks them "for another host", every packet socket
//   there (the capture) still gets them, and IP drops them at once. About twice the rate of `udp` on this kind of
//   machine (~1.9 M packets/s with nothing capturing, ~1.3 M/s with a capture attached: the kernel copies each
//   frame into the capture's ring on the sending CPU).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BURST 32
#define MAX_PAYLOAD 1400
#define DEFAULT_DST_MAC "02:70:63:61:70:01"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// --- udp: sendmmsg on a connected socket ---

static int udp_fd;
static unsigned char udp_bufs[BURST][MAX_PAYLOAD];
static struct mmsghdr udp_msgs[BURST];
static struct iovec udp_iov[BURST];

static int udp_open(const char* ip, int port, int payload) {
  udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in dst = {0};
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &dst.sin_addr) != 1 || connect(udp_fd, (struct sockaddr*)&dst, sizeof dst) != 0) {
    perror("connect");
    return -1;
  }
  int sndbuf = 4 << 20;
  setsockopt(udp_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  memset(udp_msgs, 0, sizeof udp_msgs);
  for (int i = 0; i < BURST; i++) {
    memset(udp_bufs[i], 0x5a, sizeof udp_bufs[i]);
    udp_iov[i].iov_base = udp_bufs[i];
    udp_iov[i].iov_len = (size_t)payload;
    udp_msgs[i].msg_hdr.msg_iov = &udp_iov[i];
    udp_msgs[i].msg_hdr.msg_iovlen = 1;
  }
  return 0;
}

// Sends up to n datagrams numbered from seq; returns how many went (0 = try again), -1 on error.
static int udp_send(int n, uint32_t seq) {
  for (int i = 0; i < n; i++) {
    uint32_t s = htonl(seq + (uint32_t)i);
    memcpy(udp_bufs[i], &s, 4);
  }
  int r = sendmmsg(udp_fd, udp_msgs, (unsigned)n, 0);
  return r < 0 ? 0 : r;
}

// --- raw: a packet socket's TX ring ---

static int raw_fd;
static uint8_t* ring;
static struct tpacket_req ring_req;
static unsigned ring_next;
static uint8_t frame[14 + 20 + 8 + MAX_PAYLOAD];
static int frame_len;
static const size_t FRAME_DATA = TPACKET_ALIGN(sizeof(struct tpacket2_hdr));

static uint16_t ip_checksum(const uint8_t* p, int len) {
  uint32_t sum = 0;
  for (int i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons((uint16_t)~sum);
}

static int raw_open(const char* ip, int port, int payload, const char* ifname, const char* dst_mac) {
  unsigned mac[6];
  struct in_addr dst_ip;
  if (sscanf(dst_mac, "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6 ||
      inet_pton(AF_INET, ip, &dst_ip) != 1) {
    fprintf(stderr, "bad destination MAC or IP\n");
    return -1;
  }
  // protocol 0: this socket sends only, it receives nothing
  raw_fd = socket(AF_PACKET, SOCK_RAW, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (raw_fd < 0 || ioctl(raw_fd, SIOCGIFINDEX, &ifr) != 0) {
    perror(ifname);
    return -1;
  }
  const int ifindex = ifr.ifr_ifindex;
  if (ioctl(raw_fd, SIOCGIFHWADDR, &ifr) != 0) {
    perror("SIOCGIFHWADDR");
    return -1;
  }
  uint8_t src_mac[6];
  memcpy(src_mac, ifr.ifr_hwaddr.sa_data, 6);
  int inet = socket(AF_INET, SOCK_DGRAM, 0);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(inet, SIOCGIFADDR, &ifr) != 0) {
    perror("SIOCGIFADDR");
    return -1;
  }
  close(inet);
  const struct in_addr src_ip = ((struct sockaddr_in*)&ifr.ifr_addr)->sin_addr;

  int version = TPACKET_V2, one = 1;
  ring_req.tp_block_size = 1 << 16;
  ring_req.tp_block_nr = 64;
  ring_req.tp_frame_size = 2048;
  ring_req.tp_frame_nr = ring_req.tp_block_nr * (ring_req.tp_block_size / ring_req.tp_frame_size);
  if (setsockopt(raw_fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0 ||
      setsockopt(raw_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0 ||
      setsockopt(raw_fd, SOL_PACKET, PACKET_TX_RING, &ring_req, sizeof ring_req) != 0) {
    perror("PACKET_TX_RING");
    return -1;
  }
  ring = mmap(NULL, (size_t)ring_req.tp_block_size * ring_req.tp_block_nr, PROT_READ | PROT_WRITE, MAP_SHARED,
              raw_fd, 0);
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  if (ring == MAP_FAILED || bind(raw_fd, (struct sockaddr*)&sll, sizeof sll) != 0) {
    perror("mmap/bind");
    return -1;
  }

  memset(frame, 0x5a, sizeof frame);
  for (int i = 0; i < 6; i++) frame[i] = (uint8_t)mac[i];
  memcpy(frame + 6, src_mac, 6);
  frame[12] = 0x08;  // IPv4
  frame[13] = 0x00;
  uint8_t* iph = frame + 14;
  memset(iph, 0, 20);
  iph[0] = 0x45;
  const uint16_t total = htons((uint16_t)(20 + 8 + payload));
  memcpy(iph + 2, &total, 2);
  iph[6] = 0x40;  // don't fragment
  iph[8] = 64;    // TTL
  iph[9] = 17;    // UDP
  memcpy(iph + 12, &src_ip, 4);
  memcpy(iph + 16, &dst_ip, 4);
  const uint16_t sum = ip_checksum(iph, 20);
  memcpy(iph + 10, &sum, 2);
  uint8_t* udp = iph + 20;
  const uint16_t ports[4] = {htons(40000), htons((uint16_t)port), htons((uint16_t)(8 + payload)), 0};
  memcpy(udp, ports, 8);  // source port, destination port, length, checksum 0 (none, valid for IPv4)
  frame_len = 14 + 20 + 8 + payload;
  return 0;
}

static struct tpacket2_hdr* raw_slot(unsigned i) {
  return (struct tpacket2_hdr*)(ring + (size_t)(i % ring_req.tp_frame_nr) * ring_req.tp_frame_size);
}

static int raw_send(int n, uint32_t seq) {
  int filled = 0;
  for (; filled < n; filled++) {
    struct tpacket2_hdr* h = raw_slot(ring_next + (unsigned)filled);
    if (h->tp_status & TP_STATUS_WRONG_FORMAT) {
      fprintf(stderr, "frame rejected by the kernel\n");
      return -1;
    }
    if (h->tp_status != TP_STATUS_AVAILABLE) break;  // the ring is full: send what is filled
    uint8_t* d = (uint8_t*)h + FRAME_DATA;
    memcpy(d, frame, (size_t)frame_len);
    const uint32_t s = htonl(seq + (uint32_t)filled);
    memcpy(d + 42, &s, 4);
    h->tp_len = (uint32_t)frame_len;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
  }
  ring_next += (unsigned)filled;
  // Blocking send: returns once the kernel has taken every frame marked so far.
  if (send(raw_fd, NULL, 0, 0) < 0) {
    perror("send");
    return -1;
  }
  return filled;
}

static void raw_drain(void) {
  for (unsigned i = 0; i < ring_req.tp_frame_nr; i++) {
    struct tpacket2_hdr* h = raw_slot(i);
    while (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE &&
           !(h->tp_status & TP_STATUS_WRONG_FORMAT)) {
      send(raw_fd, NULL, 0, 0);
    }
  }
}

int main(int argc, char** argv) {
  if (argc < 6 || argc > 8) {
    fprintf(stderr, "usage: %s IP PORT PPS COUNT PAYLOAD [IFACE [DSTMAC]]\n", argv[0]);
    return 2;
  }
  const char* ip = argv[1];
  int port = atoi(argv[2]);
  double pps = atof(argv[3]);
  long count = atol(argv[4]);
  int payload = atoi(argv[5]);
  if (count <= 0 || count > 50000000 || payload < 4 || payload > MAX_PAYLOAD) {
    fprintf(stderr, "count must be 1..50000000 and payload 4..%d\n", MAX_PAYLOAD);
    return 2;
  }
  const int raw = argc >= 7;
  if (raw ? raw_open(ip, port, payload, argv[6], argc == 8 ? argv[7] : DEFAULT_DST_MAC)
          : udp_open(ip, port, payload)) {
    return 1;
  }
  int (*send_burst)(int, uint32_t) = raw ? raw_send : udp_send;
  // Paced: bursts of up to 32 when due. Unpaced, the TX ring takes larger ones (fewer system calls).
  const int burst = raw && pps <= 0 ? 256 : BURST;

  const uint64_t start = now_ns();
  const double ns_per_packet = pps > 0 ? 1e9 / pps : 0;
  long sent = 0;
  long stalled = 0;
  while (sent < count) {
    if (ns_per_packet > 0) {
      const uint64_t due = start + (uint64_t)(sent * ns_per_packet);
      while (now_ns() < due) {
      }
    }
    const int n = (int)((count - sent) < burst ? (count - sent) : burst);
    const int r = send_burst(n, (uint32_t)sent);
    if (r < 0) return 1;
    if (r == 0) {
      if (++stalled > 1000000) {
        fprintf(stderr, "no progress after a million tries\n");
        return 1;
      }
      continue;
    }
    sent += r;
  }
  if (raw) raw_drain();
  const double secs = (double)(now_ns() - start) / 1e9;
  printf("{\"sent\":%ld,\"seconds\":%.6f,\"pps\":%.0f}\n", sent, secs, (double)sent / secs);
  return 0;
}
