// Paced UDP load for bench/capture: sends exactly COUNT datagrams of PAYLOAD bytes to IP:PORT at about PPS
// packets per second (0 = as fast as possible), in sendmmsg() bursts, then prints what it achieved as JSON.
// Run it inside a test namespace only (bench/capture/run.ts does).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BURST 32

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s IP PORT PPS COUNT PAYLOAD\n", argv[0]);
    return 2;
  }
  const char* ip = argv[1];
  int port = atoi(argv[2]);
  double pps = atof(argv[3]);
  long count = atol(argv[4]);
  int payload = atoi(argv[5]);
  if (count <= 0 || count > 50000000 || payload < 4 || payload > 1400) {
    fprintf(stderr, "count must be 1..50000000 and payload 4..1400\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in dst = {0};
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &dst.sin_addr) != 1 || connect(fd, (struct sockaddr*)&dst, sizeof dst) != 0) {
    perror("connect");
    return 1;
  }
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  static unsigned char bufs[BURST][1400];
  struct iovec iov[BURST];
  struct mmsghdr msgs[BURST];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BURST; i++) {
    memset(bufs[i], 0x5a, sizeof bufs[i]);
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = (size_t)payload;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  const uint64_t start = now_ns();
  const double ns_per_packet = pps > 0 ? 1e9 / pps : 0;
  long sent = 0;
  long failed = 0;
  while (sent < count) {
    if (ns_per_packet > 0) {
      const uint64_t due = start + (uint64_t)(sent * ns_per_packet);
      while (now_ns() < due) {
      }
    }
    int n = (int)((count - sent) < BURST ? (count - sent) : BURST);
    for (int i = 0; i < n; i++) {
      uint32_t seq = htonl((uint32_t)(sent + i));
      memcpy(bufs[i], &seq, 4);
    }
    int r = sendmmsg(fd, msgs, (unsigned)n, 0);
    if (r <= 0) {
      failed++;
      if (failed > 1000000) {
        perror("sendmmsg");
        return 1;
      }
      continue;
    }
    sent += r;
  }
  const double secs = (double)(now_ns() - start) / 1e9;
  printf("{\"sent\":%ld,\"seconds\":%.6f,\"pps\":%.0f}\n", sent, secs, (double)sent / secs);
  return 0;
}
