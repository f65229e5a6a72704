// Opening and activating a libpcap handle, and the EPB layout of a batch: shared by the addon (in-process
// capture) and the capture worker executable (one process per capture).
#pragma once
#include <pcap/pcap.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <string>

#include "netns.h"

namespace pcapcf {

constexpr uint32_t kEpbType = 6;
constexpr size_t kEpbOverhead = 32;
// A read of this many EPB bytes or more (half of one of libpcap's 256 KiB TPACKET_V3 blocks) means the kernel handed
// over a full block, so more follows within milliseconds; less means a block timed out (a low rate). Under load the
// engine and the worker hold a batch for more blocks; at a low rate holding would only add delay.
constexpr size_t kFullBlockRead = 128 * 1024;
// Buffered mode: whether a batch of `used` bytes, just grown by a read of `read` bytes, should wait for more blocks.
// `afterCut`: the read went on in a block the previous read left because the batch was full.
inline bool GatherMore(size_t read, bool afterCut, size_t used, size_t maxBatchBytes) {
  return used < maxBatchBytes && (read >= kFullBlockRead || afterCut);
}

// Paced reads under a steady high rate. Reading at every kernel block costs a wake-up per ~1 400 packets of 106
// bytes (and, in Node, an event-loop turn each); with a ring of many blocks a reader can instead sleep until a
// fixed share of the ring would have filled and read it all at once, keeping the rest of the ring as headroom for
// bursts and for a reader that comes late. The pacer is only the arithmetic: its owner reports each read and the
// packets' drops, and waits for the descriptor (0) or sleeps the milliseconds it returns.
class ReadPacer {
 public:
  // libpcap's TPACKET_V3 blocks: one per 256 KiB "frame" of the buffer (pcap-linux.c, create_ring).
  static constexpr size_t kBlockBytes = 256 * 1024;
  // The most of the ring a paced read lets fill (an eighth, or less: see batchBytes): the other 7/8 or more take a
  // burst of 8x the measured rate, or a reader 7 intervals late, before the kernel drops.
  static constexpr unsigned kShareShift = 3;
  // Pacing is worth it only when a paced read spans at least this many blocks (else a wake-up per block is as good).
  static constexpr size_t kMinBlocksPerRead = 2;

  // `bufferSize` as asked of libpcap (0 = its 2 MiB default); `maxIntervalMs`: the longest sleep (a latency bound);
  // `batchBytes`: the reader's batch size, which also caps the share (in ring bytes, which are more than the
  // batch's EPB bytes), so that a paced read hands over about one batch: several at once, each a fresh Buffer for a
  // consumer without a pool, made one event-loop turn take their copies and collections together (loop delays of
  // 23–93 ms in bench/capture with a 16 MiB ring, where one batch per read keeps them as without pacing).
  ReadPacer(int bufferSize, int maxIntervalMs, bool immediate, size_t batchBytes)
      : baseShare_(immediate ? 0 : std::min(RingBytes(bufferSize) >> kShareShift, batchBytes)),
        maxIntervalMs_(maxIntervalMs) {}

  // Bytes of the ring a packet of `caplen` bytes takes: the tpacket3 header and sockaddr_ll before the frame
  // (82 bytes before an Ethernet header), aligned to 8; a little more for other link types is on the safe side.
  static size_t RingFootprint(uint32_t caplen) { return (static_cast<size_t>(caplen) + 96u + 7u) & ~size_t{7}; }

  // A read took `ringBytes` of the ring at `nowNs` (a monotonic clock); `dropped`: the kernel
  // dropped packets since the last report. Returns how many ms to sleep before the next read, or 0: wait for the
  // kernel to hand over a block.
  int AfterRead(size_t ringBytes, uint64_t nowNs, bool dropped) {
    const uint64_t elapsed = lastNs_ == 0 ? 0 : nowNs - lastNs_;
    lastNs_ = nowNs;
    if (dropped && halvings_ < 12) halvings_++;  // a drop while pacing: let a smaller share fill from now on
    const size_t share = baseShare_ >> halvings_;
    // Less than half a block: the kernel handed over a block that timed out (a low rate): nothing to pace.
    if (elapsed == 0 || ringBytes < kBlockBytes / 2 || share < kMinBlocksPerRead * kBlockBytes || maxIntervalMs_ <= 0) {
      steady_ = 0;
      return 0;
    }
    if (++steady_ < 2) return 0;  // two full reads in a row: a steady load, not a single burst
    const double bytesPerNs = static_cast<double>(ringBytes) / static_cast<double>(elapsed);
    double ms = static_cast<double>(share) / bytesPerNs / 1e6;
    if (ms > maxIntervalMs_) ms = maxIntervalMs_;
    // A sleep that would not span two blocks saves nothing over the kernel's own wake-ups.
    if (ms < 1 || ms * 1e6 * bytesPerNs < static_cast<double>(kMinBlocksPerRead * kBlockBytes)) return 0;
    return static_cast<int>(ms);
  }

  static size_t RingBytes(int bufferSize) {
    const size_t asked = bufferSize > 0 ? static_cast<size_t>(bufferSize) : 2u * 1024 * 1024;
    return (asked + kBlockBytes - 1) / kBlockBytes * kBlockBytes;
  }

 private:
  size_t baseShare_;
  int maxIntervalMs_;
  unsigned halvings_ = 0;
  unsigned steady_ = 0;
  uint64_t lastNs_ = 0;
};

struct OpenRequest {
  std::string device;
  std::string netns;
  std::string filter;
  int snaplen = 65535;
  int bufferSize = 0;  // 0 = libpcap's default (2 MiB)
  int timeoutMs = 100;
  bool promiscuous = false;
  bool immediate = true;
};

struct OpenResult {
  pcap_t* handle = nullptr;
  NativeError error;
  std::string warning;
  bool nano = true;
};

// Creates, configures, activates and filters a non-blocking handle. Run it inside the target namespace: the
// socket binds to the namespace it is created in. On failure `out->handle` stays null and `out->error` says why.
void OpenHandle(const OpenRequest& req, OpenResult* out);

// Writes one little-endian Enhanced Packet Block (interface 0, ns timestamp, no options) at `b`, which must hold
// EpbLength(h->caplen) bytes and be 4-byte aligned (every block's length is a multiple of 4).
inline uint32_t EpbLength(uint32_t caplen) { return static_cast<uint32_t>(kEpbOverhead) + ((caplen + 3u) & ~3u); }

// Stores of the batch's words. Ordinary stores first fetch each destination line into the cache. A pool slot
// (live-capture.cc) is a megabyte written once, packet by packet, and handed over without being read again here:
// on x86-64 it is written with streaming (non-temporal) stores, which skip that fetch and leave the cache to the
// kernel ring and the runtime. A batch that is copied right after (the addon without a pool, the worker's frame
// sent through a socket) keeps ordinary stores: the copy would then read it back from memory, measured slower.
// Streaming stores are weakly ordered: call StreamFence() once a batch is complete, before it is handed over.
template <bool kStreaming>
inline void Store32(uint8_t* p, uint32_t v) {
#if defined(__x86_64__)
  if (kStreaming) {
    _mm_stream_si32(reinterpret_cast<int*>(p), static_cast<int>(v));
    return;
  }
#endif
  memcpy(p, &v, 4);
}
template <bool kStreaming>
inline void Store64(uint8_t* p, uint64_t v) {
#if defined(__x86_64__)
  if (kStreaming) {
    _mm_stream_si64(reinterpret_cast<long long*>(p), static_cast<long long>(v));
    return;
  }
#endif
  memcpy(p, &v, 8);
}
inline void StreamFence() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

// Each field is stored straight into `b` (a header assembled on the stack and copied over as one block made the
// CPU stall on every packet: a wide load of several narrow stores cannot be forwarded), then the data in words.
template <bool kStreaming = false>
inline void WriteEpb(uint8_t* b, const pcap_pkthdr* h, const u_char* bytes, bool nano) {
  const uint32_t caplen = h->caplen;
  const uint32_t blockLen = EpbLength(caplen);
  const uint64_t ns = static_cast<uint64_t>(h->ts.tv_sec) * 1000000000ull +
                      static_cast<uint64_t>(h->ts.tv_usec) * (nano ? 1ull : 1000ull);
  Store32<kStreaming>(b, kEpbType);
  Store32<kStreaming>(b + 4, blockLen);
  Store32<kStreaming>(b + 8, 0);
  Store32<kStreaming>(b + 12, static_cast<uint32_t>(ns >> 32));
  Store32<kStreaming>(b + 16, static_cast<uint32_t>(ns & 0xffffffffu));
  Store32<kStreaming>(b + 20, caplen);
  Store32<kStreaming>(b + 24, h->len);
  if (!kStreaming) {
    const uint32_t padded = (caplen + 3u) & ~3u;
    if (padded != caplen) Store32<false>(b + 28 + padded - 4, 0);  // the padding word, written before the data
    memcpy(b + 28, bytes, caplen);
    Store32<false>(b + 28 + padded, blockLen);
    return;
  }
  // Streaming: 8-byte words where aligned; the last word is completed with zeros, the block's padding.
  uint8_t* d = b + 28;
  const u_char* src = bytes;
  uint32_t left = caplen;
  if ((reinterpret_cast<uintptr_t>(d) & 7u) != 0 && left >= 4) {
    uint32_t v;
    memcpy(&v, src, 4);
    Store32<kStreaming>(d, v);
    d += 4, src += 4, left -= 4;
  }
  for (; left >= 8; d += 8, src += 8, left -= 8) {
    uint64_t v;
    memcpy(&v, src, 8);
    Store64<kStreaming>(d, v);
  }
  if (left >= 4) {
    uint32_t v;
    memcpy(&v, src, 4);
    Store32<kStreaming>(d, v);
    d += 4, src += 4, left -= 4;
  }
  if (left > 0) {  // 1..3 bytes, gathered in a register (a short copy to the stack and a word load from it stalls)
    uint32_t v = src[0];
    if (left > 1) v |= static_cast<uint32_t>(src[1]) << 8;
    if (left > 2) v |= static_cast<uint32_t>(src[2]) << 16;
    Store32<kStreaming>(d, v);
    d += 4;
  }
  Store32<kStreaming>(d, blockLen);
}

}  // namespace pcapcf
