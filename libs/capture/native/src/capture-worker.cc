// pcap_capture_worker: one live capture in a process of its own, so that a fault in libpcap, in the kernel
// interface or in our native code ends that capture only, never the agent or the other captures.
//
//   pcap_capture_worker --device D [--netns PATH] [--filter F] [--snaplen N] [--buffer-size N]
//                       [--timeout-ms N] [--promiscuous] [--buffered] [--max-batch-bytes N]
//                       [--shared-slots N --shared-slot-bytes B]
//
// stdout carries frames: u32 type, u32 payload length (little-endian), payload.
//   1 READY   i32 link type, i32 snaplen, u32 nano (1/0), libpcap warning text
//   2 ERROR   code, NUL, message (the capture could not be opened; exit status 2)
//   3 BATCH   u32 packet count, then that many pcapng EPBs (the addon's batch layout)
//   4 STATS   7 × u64: ps_recv, ps_drop, ps_ifdrop, delivered, batches, lost, reads (about once a second)
//   5 END     STATS payload (graceful stop done; exit status 0)
//   6 FAILED  STATS payload, then the read error text (the device went away; exit status 1)
//   7 SLOT    u32 slot, u32 packet count, u32 bytes: a batch written into shared slot `slot` (see below)
// stdin carries commands: 'S' stops gracefully (what the kernel holds is delivered, then END). End of file on
// stdin means the parent is gone: the worker closes the capture and exits. So does the parent's death
// (PR_SET_PDEATHSIG). SIGINT/SIGTERM request a graceful stop, like 'S', so that a signal sent to the whole
// process group lets the captures drain instead of cutting them.
//
// Backpressure: frames are written with blocking writes; while the parent does not read, the channel fills, the
// worker stops reading the kernel and the kernel drops (counted in ps_drop). Memory is bounded by the channel and
// one batch of at most --max-batch-bytes plus one packet.
//
// Shared slots (--shared-slots): fd 3 is shared memory both processes map: a 4096-byte header of N u32 ownership
// flags, then N slots of B bytes each. A batch is written straight into a free slot and announced by a SLOT frame,
// so that its bytes do not travel through the channel (no copy into the socket, none out of it). Flag k is 1 while
// slot k is the worker's: the worker clears it when it takes the slot for a batch, and the parent sets it again
// (an atomic store) when it is done with the batch, so handing a slot back costs no system call on either side and
// does not wake the worker; the worker looks at the flags when it starts a batch. While no slot is free (the
// parent's consumer holds them all), batches go as BATCH frames through the channel as without slots, so
// backpressure works as before. A slot must hold --max-batch-bytes plus the largest packet; if it cannot, slots are
// not used.
//
// Under load (buffered mode, the kernel handing over full blocks) a batch is held for more blocks, up to
// --max-batch-bytes or --timeout-ms, as the in-process engine does (live-capture.cc), so that the parent handles
// a few large frames rather than one per kernel block. Under a steady high rate with a ring of 4 MiB or more, the
// worker also paces its reads (pcapcf::ReadPacer): it stops polling the capture's descriptor and reads when a
// share of the ring would have filled, instead of waking at every kernel block.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "netns.h"
#include "pcap-open.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "frames and batches are little-endian; big-endian hosts are not supported"
#endif

namespace {

using pcapcf::EpbLength;
using pcapcf::NativeError;
using pcapcf::OpenRequest;
using pcapcf::OpenResult;

enum FrameType : uint32_t { kReady = 1, kError = 2, kBatch = 3, kStats = 4, kEnd = 5, kFailed = 6, kSlot = 7 };
constexpr int kSharedFd = 3;
constexpr int kMaxSlots = 256;
constexpr size_t kSlotHeaderBytes = 4096;  // the slots' ownership flags (u32 each), then the slots
static_assert(kMaxSlots * sizeof(uint32_t) <= kSlotHeaderBytes, "every slot's flag fits in the header");
constexpr size_t kBatchHead = 12;  // a BATCH frame's header and packet count, before the EPBs

volatile sig_atomic_t g_stopSignal = 0;
void OnStopSignal(int) { g_stopSignal = 1; }

struct Worker {
  pcap_t* handle = nullptr;
  bool nano = true;
  size_t maxBatchBytes = 1 << 20;
  std::vector<uint8_t> batch;  // frame header (8) + count (4) + EPBs, for a batch that is not in a slot
  // The batch being built: EPBs [0, used) at out, which is a shared slot (slot >= 0) or batch + kBatchHead.
  uint8_t* out = nullptr;
  size_t outCapacity = 0;
  int slot = -1;
  size_t used = 0;
  int packets = 0;
  // Shared slots: the ownership flags (1 = the worker's), the first slot, the slot size.
  uint32_t* slotFree = nullptr;
  uint8_t* shared = nullptr;
  size_t slotBytes = 0;
  int slotCount = 0;
  bool cutAtLimit = false;  // the last Collect() stopped inside a kernel block because the batch was full
  size_t ringRead = 0;       // ring bytes (ReadPacer::RingFootprint) read since the wake-up began
  uint64_t reads = 0;        // wake-ups that read the ring
  uint64_t delivered = 0;
  uint64_t batches = 0;
  uint64_t lost = 0;
  std::string readError;
  pcap_stat last{};  // the last statistics libpcap gave (it cannot after the device went away)
};

void WriteAll(const void* data, size_t length) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (length > 0) {
    ssize_t n = write(STDOUT_FILENO, p, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(0);  // the parent closed the channel: nobody is left to deliver to
    }
    p += n;
    length -= static_cast<size_t>(n);
  }
}

// A small frame (SLOT, STATS, READY) goes out in one write(2), so that the parent reads it whole: one wake-up and
// one read callback per batch instead of two when it reads between the header and the payload.
void WriteFrame(uint32_t type, const void* payload, size_t length) {
  const uint32_t head[2] = {type, static_cast<uint32_t>(length)};
  uint8_t frame[256];
  if (length <= sizeof frame - sizeof head) {
    memcpy(frame, head, sizeof head);
    if (length > 0) memcpy(frame + sizeof head, payload, length);
    WriteAll(frame, sizeof head + length);
    return;
  }
  WriteAll(head, sizeof head);
  WriteAll(payload, length);
}

void WriteText(uint32_t type, const std::string& a, const std::string& b) {
  std::string payload = a;
  payload.push_back('\0');
  payload += b;
  WriteFrame(type, payload.data(), payload.size());
}

std::vector<uint8_t> StatsPayload(Worker* w) {
  pcap_stat s{};
  if (w->handle != nullptr && pcap_stats(w->handle, &s) == 0) w->last = s;
  s = w->last;
  const uint64_t v[7] = {s.ps_recv, s.ps_drop, s.ps_ifdrop, w->delivered, w->batches, w->lost, w->reads};
  std::vector<uint8_t> out(sizeof v);
  memcpy(out.data(), v, sizeof v);
  return out;
}

void OnPacket(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
  Worker* w = reinterpret_cast<Worker*>(user);
  const size_t blockLen = EpbLength(h->caplen);
  if (w->used + blockLen > w->outCapacity) {
    if (w->slot >= 0) {  // cannot happen: a slot holds maxBatchBytes plus the largest packet
      w->lost++;
      return;
    }
    try {
      w->batch.resize(std::max(w->batch.size() * 2, kBatchHead + w->used + blockLen));
    } catch (const std::bad_alloc&) {
      w->lost++;
      return;
    }
    w->out = w->batch.data() + kBatchHead;
    w->outCapacity = w->batch.size() - kBatchHead;
  }
  uint8_t* b = w->out + w->used;
  if (w->slot >= 0) {
    pcapcf::WriteEpb<true>(b, h, bytes, w->nano);  // streaming stores: the parent reads the slot, not us
  } else {
    pcapcf::WriteEpb(b, h, bytes, w->nano);
  }
  w->used += blockLen;
  w->packets++;
  w->ringRead += pcapcf::ReadPacer::RingFootprint(h->caplen);
  // stop a dispatch that would read the whole ring: libpcap resumes inside the block next time
  if (w->used >= w->maxBatchBytes) pcap_breakloop(w->handle);
}

// Where a new batch goes: the slot the last, empty, read left it, else a free shared slot if there is one, else the
// channel's own buffer.
void BeginBatch(Worker* w) {
  if (w->slot >= 0) return;
  for (int i = 0; i < w->slotCount; i++) {
    // acquire: the parent's reads of the slot happened before it set the flag, so writing into it is safe now
    if (__atomic_load_n(&w->slotFree[i], __ATOMIC_ACQUIRE) == 1) {
      __atomic_store_n(&w->slotFree[i], 0, __ATOMIC_RELAXED);
      w->slot = i;
      w->out = w->shared + static_cast<size_t>(i) * w->slotBytes;
      w->outCapacity = w->slotBytes;
      return;
    }
  }
  w->out = w->batch.data() + kBatchHead;
  w->outCapacity = w->batch.size() - kBatchHead;
}

// Reads what the kernel has ready into the batch, after what it already holds, up to maxBatchBytes. Returns the
// bytes read; a read error is left in readError.
size_t Collect(Worker* w) {
  if (w->packets == 0) BeginBatch(w);  // a new batch (else: more for the one held)
  const size_t before = w->used;
  w->cutAtLimit = false;
  while (w->used < w->maxBatchBytes) {
    int n = pcap_dispatch(w->handle, -1, &OnPacket, reinterpret_cast<u_char*>(w));
    if (n < 0) {
      if (n == PCAP_ERROR_BREAK) {
        w->cutAtLimit = true;
        break;
      }
      w->readError = pcap_geterr(w->handle);
      if (w->readError.empty()) w->readError = "read error";
      break;
    }
    if (n == 0) break;
  }
  return w->used - before;
}

// Sends the batch (if it holds packets): a SLOT frame for a batch in a shared slot, which is then the parent's
// until handed back, else one BATCH frame. Returns its packet count.
int Send(Worker* w) {
  const int packets = w->packets;
  if (packets > 0) {
    if (w->slot >= 0) {
      pcapcf::StreamFence();  // the slot was written with streaming stores
      const uint32_t slot[3] = {static_cast<uint32_t>(w->slot), static_cast<uint32_t>(packets),
                                static_cast<uint32_t>(w->used)};
      WriteFrame(kSlot, slot, sizeof slot);
      w->slot = -1;
    } else {
      const uint32_t head[3] = {kBatch, static_cast<uint32_t>(kBatchHead - 8 + w->used),
                                static_cast<uint32_t>(packets)};
      memcpy(w->batch.data(), head, sizeof head);
      WriteAll(w->batch.data(), kBatchHead + w->used);
    }
    w->delivered += static_cast<uint64_t>(packets);
    w->batches++;
  } else if (w->slot >= 0) {
    __atomic_store_n(&w->slotFree[w->slot], 1, __ATOMIC_RELEASE);  // an empty batch gives its slot up again
    w->slot = -1;
  }
  w->used = 0;
  w->packets = 0;
  return packets;
}

// Commands from the parent: 'S' (graceful stop). Returns whether a stop was asked.
bool ParseCommands(const char* cmd, size_t n) { return memchr(cmd, 'S', n) != nullptr; }

int CollectAndSend(Worker* w) {
  Collect(w);
  return Send(w);
}

// Delivers what the kernel still holds. In buffered mode the kernel retires a partly filled block only after the
// block timeout, so wait that long first.
void Drain(Worker* w, const OpenRequest& req) {
  if (!req.immediate) {
    timespec ts{req.timeoutMs / 1000, static_cast<long>(req.timeoutMs % 1000 + 10) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
  while (w->readError.empty() && CollectAndSend(w) > 0) {
  }
}

int ParseInt(const char* name, const char* value) {
  char* end = nullptr;
  long v = strtol(value, &end, 10);
  if (end == value || *end != '\0' || v < 0 || v > 1 << 30) {
    WriteText(kError, "INVALID_OPTION", std::string("bad value for ") + name + ": " + value);
    _exit(2);
  }
  return static_cast<int>(v);
}

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

}  // namespace

int main(int argc, char** argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa{};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // Room in the channel for two full batches, so that sending a batch gathered under load does not block the worker
  // (and leave the kernel ring unread) while the parent is still busy with the previous one. The engine gives the
  // worker a UNIX socket pair (IsolatedCapture): a send buffer of 2 MiB (root may exceed net.core.wmem_max; else the
  // kernel caps it). When stdout is a pipe, a 1 MiB pipe.
  const int channelBytes = 2 << 20;
  if (setsockopt(STDOUT_FILENO, SOL_SOCKET, SO_SNDBUFFORCE, &channelBytes, sizeof channelBytes) != 0) {
    setsockopt(STDOUT_FILENO, SOL_SOCKET, SO_SNDBUF, &channelBytes, sizeof channelBytes);
  }
  fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1 << 20);

  OpenRequest req;
  Worker w;
  int sharedSlots = 0;
  size_t sharedSlotBytes = 0;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    auto value = [&]() -> const char* {
      if (next == nullptr) {
        WriteText(kError, "INVALID_OPTION", "missing value for " + a);
        _exit(2);
      }
      i++;
      return next;
    };
    if (a == "--device") req.device = value();
    else if (a == "--netns") req.netns = value();
    else if (a == "--filter") req.filter = value();
    else if (a == "--snaplen") req.snaplen = ParseInt("--snaplen", value());
    else if (a == "--buffer-size") req.bufferSize = ParseInt("--buffer-size", value());
    else if (a == "--timeout-ms") req.timeoutMs = ParseInt("--timeout-ms", value());
    else if (a == "--max-batch-bytes") w.maxBatchBytes = static_cast<size_t>(ParseInt("--max-batch-bytes", value()));
    else if (a == "--shared-slots") sharedSlots = ParseInt("--shared-slots", value());
    else if (a == "--shared-slot-bytes") sharedSlotBytes = static_cast<size_t>(ParseInt("--shared-slot-bytes", value()));
    else if (a == "--promiscuous") req.promiscuous = true;
    else if (a == "--buffered") req.immediate = false;
    else {
      WriteText(kError, "INVALID_OPTION", "unknown argument " + a);
      return 2;
    }
  }
  if (req.device.empty()) {
    WriteText(kError, "INVALID_OPTION", "device is required");
    return 2;
  }

  OpenResult result;
  NativeError nsError;
  if (!pcapcf::RunInNetns(req.netns, [&]() { pcapcf::OpenHandle(req, &result); }, &nsError)) {
    WriteText(kError, nsError.code, nsError.message);
    return 2;
  }
  if (result.handle == nullptr) {
    WriteText(kError, result.error.code, result.error.message);
    return 2;
  }
  w.handle = result.handle;
  w.nano = result.nano;
  w.batch.resize(256 * 1024);  // grows with the load, up to maxBatchBytes plus one packet
  if (sharedSlots > 0 && sharedSlots <= kMaxSlots &&
      sharedSlotBytes >= w.maxBatchBytes + EpbLength(static_cast<uint32_t>(pcap_snapshot(w.handle)))) {
    const size_t bytes = kSlotHeaderBytes + static_cast<size_t>(sharedSlots) * sharedSlotBytes;
    struct stat st {};
    // a shorter memory would fault (SIGBUS) on the first write past its end
    void* p = fstat(kSharedFd, &st) == 0 && static_cast<size_t>(st.st_size) >= bytes
                  ? mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, kSharedFd, 0)
                  : MAP_FAILED;
    if (p != MAP_FAILED) {
      w.slotFree = static_cast<uint32_t*>(p);
      w.shared = static_cast<uint8_t*>(p) + kSlotHeaderBytes;
      w.slotBytes = sharedSlotBytes;
      w.slotCount = sharedSlots;
      for (int i = 0; i < sharedSlots; i++) __atomic_store_n(&w.slotFree[i], 1, __ATOMIC_RELEASE);
    }
  }
  if (sharedSlots > 0) close(kSharedFd);  // mapped or not: batches go through the channel without it
  {
    std::vector<uint8_t> ready(12);
    const int32_t head[3] = {pcap_datalink(w.handle), pcap_snapshot(w.handle), w.nano ? 1 : 0};
    memcpy(ready.data(), head, sizeof head);
    ready.insert(ready.end(), result.warning.begin(), result.warning.end());
    WriteFrame(kReady, ready.data(), ready.size());
  }

  const int fd = pcap_get_selectable_fd(w.handle);
  uint64_t lastStats = NowMs();
  bool stopping = false;
  bool holding = false;  // the batch is held for more (see the top of this file)
  uint64_t holdUntil = 0;
  pcapcf::ReadPacer pacer(req.bufferSize, req.timeoutMs, req.immediate, w.maxBatchBytes);
  uint64_t paceAt = 0;  // paced: the next read is due then, and the descriptor is not polled (0: polled)
  unsigned dropsSeen = 0;
  while (!stopping) {
    // poll() skips an entry with a negative descriptor
    pollfd fds[2] = {{paceAt != 0 ? -1 : fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    int waitMs = 1000;
    const uint64_t before = NowMs();
    if (holding) waitMs = holdUntil > before ? static_cast<int>(std::min<uint64_t>(holdUntil - before, 1000)) : 0;
    if (paceAt != 0) waitMs = std::min(waitMs, paceAt > before ? static_cast<int>(paceAt - before) : 0);
    int rc = poll(fds, 2, waitMs);
    if (g_stopSignal) stopping = true;
    if (rc < 0 && errno != EINTR) {
      w.readError = std::string("poll failed: ") + pcapcf::ErrnoText(errno);
    }
    if (rc > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char cmd[64];
      ssize_t n = read(STDIN_FILENO, cmd, sizeof cmd);
      if (n <= 0 && !(n < 0 && errno == EINTR)) {
        pcap_close(w.handle);  // the parent is gone
        return 0;
      }
      if (n > 0 && ParseCommands(cmd, static_cast<size_t>(n))) stopping = true;
    }
    const bool paceDue = paceAt != 0 && NowMs() >= paceAt;
    if (paceDue || (rc > 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)))) {
      w.ringRead = 0;
      w.reads++;
      // A paced read takes everything the kernel has ready, in batches of at most maxBatchBytes; a read the
      // descriptor woke takes one batch, and poll() returns at once for the rest (giving the parent a moment to
      // hand slots back between batches).
      do {
        const bool afterCut = w.cutAtLimit;
        const size_t read = Collect(&w);
        const bool more =
            !req.immediate && w.readError.empty() && pcapcf::GatherMore(read, afterCut, w.used, w.maxBatchBytes);
        if (w.packets > 0 && more && !holding) {
          holding = true;
          holdUntil = NowMs() + static_cast<uint64_t>(req.timeoutMs);
        } else if (w.packets > 0 && !more) {
          Send(&w);
          holding = false;
        }
      } while (paceDue && w.cutAtLimit && w.readError.empty() && !g_stopSignal);
      if (w.readError.empty()) {
        bool dropped = false;
        pcap_stat st{};
        if (paceAt != 0 && pcap_stats(w.handle, &st) == 0) {
          w.last = st;
          dropped = st.ps_drop != dropsSeen;
          dropsSeen = st.ps_drop;
        }
        const int ms = pacer.AfterRead(w.ringRead, NowNs(), dropped);
        if (ms > 0 && paceAt == 0 && pcap_stats(w.handle, &st) == 0) {
          w.last = st;
          dropsSeen = st.ps_drop;  // drops from here on count
        }
        paceAt = ms > 0 ? NowMs() + static_cast<uint64_t>(ms) : 0;
      }
    }
    const uint64_t now = NowMs();
    if (holding && now >= holdUntil) {
      Send(&w);
      holding = false;
    }
    if (!w.readError.empty()) {
      Send(&w);  // what was read before the error
      break;
    }
    if (now - lastStats >= 1000) {
      lastStats = now;
      std::vector<uint8_t> s = StatsPayload(&w);
      WriteFrame(kStats, s.data(), s.size());
    }
  }

  if (w.readError.empty()) {
    Drain(&w, req);
  } else {
    // The device went away: the kernel may still hold a block it retires only after the block timeout.
    std::string first = w.readError;
    w.readError.clear();
    Drain(&w, req);
    if (w.readError.empty()) w.readError = first;
  }
  std::vector<uint8_t> s = StatsPayload(&w);
  pcap_close(w.handle);
  if (!w.readError.empty()) {
    s.insert(s.end(), w.readError.begin(), w.readError.end());
    WriteFrame(kFailed, s.data(), s.size());
    return 1;
  }
  WriteFrame(kEnd, s.data(), s.size());
  return 0;
}
