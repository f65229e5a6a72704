// The engine's native read path with no JavaScript runtime around it, as a floor for bench/capture: the same
// libpcap handle as the addon opens (OpenHandle: buffered, nanosecond timestamps, the given kernel buffer), every
// packet written as an EPB with the addon's WriteEpb into a reused 1 MiB batch buffer with the pool's streaming
// stores (the engine's pool hands the same slot back each time when its consumer releases every batch at once, as
// bench/capture's does), each full batch written to OUT, and the engine's paced reads (ReadPacer) under a steady
// high rate with a ring of 4 MiB or more. What this costs per packet is what a reader on libpcap
// pays before a runtime adds anything; what the engine rows cost above it is Node's share.
//
//   native-reader DEVICE FILTER BUFFER_BYTES OUT
//
// Prints "ready" once capturing, then on SIGINT or SIGTERM reads what the kernel still holds, writes it and prints
// {"captured": N, "dropped": N, "reads": N} as JSON (reads: wake-ups that read the ring). Run it inside the test
// namespace (`ip netns exec`), as tcpdump is run.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <vector>

#include "pcap-open.h"

namespace {

constexpr size_t kBatchBytes = 1 << 20;

volatile sig_atomic_t g_stop = 0;
void OnStop(int) { g_stop = 1; }

struct Reader {
  pcap_t* handle = nullptr;
  bool nano = true;
  int out = -1;
  std::vector<uint8_t> batch;
  size_t used = 0;
  unsigned long long captured = 0;
  size_t ringRead = 0;
  unsigned long long reads = 0;  // wake-ups that read the ring
};

void Flush(Reader* r) {
  if (r->used == 0) return;
  pcapcf::StreamFence();
  const uint8_t* p = r->batch.data();
  size_t left = r->used;
  while (left > 0) {
    ssize_t n = write(r->out, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      perror("write");
      exit(1);
    }
    p += n, left -= static_cast<size_t>(n);
  }
  r->used = 0;
}

void OnPacket(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
  Reader* r = reinterpret_cast<Reader*>(user);
  pcapcf::WriteEpb<true>(r->batch.data() + r->used, h, bytes, r->nano);
  r->used += pcapcf::EpbLength(h->caplen);
  r->captured++;
  r->ringRead += pcapcf::ReadPacer::RingFootprint(h->caplen);
  if (r->used >= kBatchBytes) Flush(r);
}

// Reads until the kernel has nothing ready.
void ReadReady(Reader* r) {
  int n;
  while ((n = pcap_dispatch(r->handle, -1, &OnPacket, reinterpret_cast<u_char*>(r))) > 0) {
  }
  if (n < 0) {
    fprintf(stderr, "read: %s\n", pcap_geterr(r->handle));
    exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s DEVICE FILTER BUFFER_BYTES OUT\n", argv[0]);
    return 2;
  }
  pcapcf::OpenRequest req;
  req.device = argv[1];
  req.filter = argv[2];
  req.bufferSize = atoi(argv[3]);
  req.immediate = false;
  pcapcf::OpenResult opened;
  pcapcf::OpenHandle(req, &opened);
  if (opened.handle == nullptr) {
    fprintf(stderr, "%s\n", opened.error.message.c_str());
    return 1;
  }
  Reader r;
  r.handle = opened.handle;
  r.nano = opened.nano;
  r.out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (r.out < 0) {
    perror(argv[4]);
    return 1;
  }
  // a batch is written once it reaches kBatchBytes, so the buffer holds that plus one packet
  r.batch.resize(kBatchBytes + pcapcf::EpbLength(pcap_snapshot(r.handle)));
  signal(SIGINT, OnStop);
  signal(SIGTERM, OnStop);
  printf("ready\n");
  fflush(stdout);

  pollfd pfd{pcap_get_selectable_fd(r.handle), POLLIN, 0};
  pcapcf::ReadPacer pacer(req.bufferSize, req.timeoutMs, req.immediate, kBatchBytes);
  int paceMs = 0;
  unsigned dropsSeen = 0;
  while (!g_stop) {
    if (paceMs > 0) {
      poll(nullptr, 0, paceMs);  // a paced read: sleep, then read without waiting for the descriptor
    } else if (poll(&pfd, 1, 1000) <= 0) {
      continue;
    }
    r.ringRead = 0;
    r.reads++;
    ReadReady(&r);
    pcap_stat st{};
    bool dropped = false;
    if (paceMs > 0 && pcap_stats(r.handle, &st) == 0) {  // as the engine: looked at only while pacing
      dropped = st.ps_drop != dropsSeen;
      dropsSeen = st.ps_drop;
    }
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const int ms =
        pacer.AfterRead(r.ringRead, static_cast<uint64_t>(now.tv_sec) * 1000000000ull + now.tv_nsec, dropped);
    if (ms > 0 && paceMs == 0 && pcap_stats(r.handle, &st) == 0) dropsSeen = st.ps_drop;
    paceMs = ms;
  }
  // the kernel retires a partly filled block after the block timeout: wait for it, then read the rest
  timespec ts{0, static_cast<long>(req.timeoutMs + 10) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  ReadReady(&r);
  Flush(&r);
  pcap_stat s{};
  pcap_stats(r.handle, &s);
  printf("{\"captured\": %llu, \"dropped\": %u, \"reads\": %llu}\n", r.captured, s.ps_drop, r.reads);
  pcap_close(r.handle);
  return 0;
}
