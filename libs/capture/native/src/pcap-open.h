// Opening and activating a libpcap handle, and the EPB layout of a batch: shared by the addon (in-process
// capture) and the capture worker executable (one process per capture).
#pragma once
#include <pcap/pcap.h>
#include <stdint.h>
#include <string.h>

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
// EpbLength(h->caplen) bytes.
inline uint32_t EpbLength(uint32_t caplen) { return static_cast<uint32_t>(kEpbOverhead) + ((caplen + 3u) & ~3u); }
inline void Put32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }
// Each field is stored straight into `b`: a header assembled on the stack and copied over as one block made the
// CPU stall on every packet (a wide load of several narrow stores cannot be forwarded), a third of the engine's
// per-packet time in a profile.
inline void WriteEpb(uint8_t* b, const pcap_pkthdr* h, const u_char* bytes, bool nano) {
  const uint32_t caplen = h->caplen;
  const uint32_t padded = (caplen + 3u) & ~3u;
  const uint32_t blockLen = static_cast<uint32_t>(kEpbOverhead) + padded;
  const uint64_t ns = static_cast<uint64_t>(h->ts.tv_sec) * 1000000000ull +
                      static_cast<uint64_t>(h->ts.tv_usec) * (nano ? 1ull : 1000ull);
  Put32(b, kEpbType);
  Put32(b + 4, blockLen);
  Put32(b + 8, 0);
  Put32(b + 12, static_cast<uint32_t>(ns >> 32));
  Put32(b + 16, static_cast<uint32_t>(ns & 0xffffffffu));
  Put32(b + 20, caplen);
  Put32(b + 24, h->len);
  if (padded != caplen) Put32(b + 24 + padded, 0);  // the padding's word, before the data overwrites its start
  memcpy(b + 28, bytes, caplen);
  Put32(b + 28 + padded, blockLen);
}

}  // namespace pcapcf
