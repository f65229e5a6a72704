// One live libpcap capture, delivered to JavaScript in batches of pcapng Enhanced Packet Blocks.
#pragma once
#include <napi.h>
#include <pcap/pcap.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "pcap-open.h"

namespace pcapcf {

class LiveCapture : public Napi::ObjectWrap<LiveCapture> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit LiveCapture(const Napi::CallbackInfo& info);
  ~LiveCapture() override;

 private:
  // JS methods
  Napi::Value Start(const Napi::CallbackInfo& info);  // start(onBatch(err, data, count))
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value ReadNow(const Napi::CallbackInfo& info);  // synchronous drain: {data, count, pooled, used} | null
  Napi::Value Provide(const Napi::CallbackInfo& info);  // provide(buffer): a reusable batch buffer
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetLinkType(const Napi::CallbackInfo& info);
  Napi::Value GetSnaplen(const Napi::CallbackInfo& info);
  Napi::Value GetPrecision(const Napi::CallbackInfo& info);
  Napi::Value GetWarning(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnPacket(u_char* user, const pcap_pkthdr* header, const u_char* bytes);
  static void OnPollClosed(uv_handle_t* handle);
  static void OnLingerTimer(uv_timer_t* timer);
  static void OnPaceTimer(uv_timer_t* timer);
  static void OnTimerClosed(uv_handle_t* handle);

  // Reads what the kernel has ready into the batch being built (after what it already holds), up to
  // maxBatchBytes_. Returns the batch's packet count, or -1 on a read error with an empty batch (text in
  // readError_).
  int Collect();
  // After a read of `read` bytes: whether to hold the batch for more instead of delivering it now.
  // `afterCut`: the read went on in a kernel block the previous one left at maxBatchBytes_.
  bool Linger(size_t read, bool afterCut);
  void StopLinger();
  // A wake-up (the descriptor became readable, or a paced read is due): reads everything the kernel has ready,
  // delivers the full batches, then either waits for the descriptor again or sleeps as pacer_ says.
  void ReadReady();
  void Pace();
  void StopPacing();
  void DeliverBatch(int count);
  void DeliverError(const std::string& message);
  void StopPolling();
  void DoClose();
  void SnapshotStats();

  pcap_t* handle_ = nullptr;
  uv_poll_t* poll_ = nullptr;  // heap: freed by OnPollClosed, after the wrapper may be gone
  // Buffered mode: while the kernel hands over full blocks (a high rate), a batch is held for up to lingerMs_
  // to gather up to maxBatchBytes_, so that JavaScript handles a few large batches rather than one per block.
  uv_timer_t* lingerTimer_ = nullptr;  // heap, like poll_
  bool lingering_ = false;
  bool cutAtLimit_ = false;  // the last Collect() stopped inside a kernel block because the batch was full
  int lingerMs_ = 0;
  // Paced reads (ReadPacer): under a steady high rate with a ring of many blocks, the descriptor is not polled and
  // paceTimer_ wakes the capture instead, after a share of the ring would have filled.
  uv_timer_t* paceTimer_ = nullptr;  // heap, like poll_
  bool pacing_ = false;              // paceTimer_ is armed (and the descriptor not polled)
  // The wake-up being handled is a paced read (paceTimer_), not the descriptor's: a consumer's resume() during it
  // may start polling again, so polling_ does not tell.
  bool pacedWake_ = false;
  ReadPacer pacer_{0, 0, true, 0};
  size_t ringRead_ = 0;        // ring bytes (ReadPacer::RingFootprint) read since the wake-up began
  unsigned dropsSeen_ = 0;     // ps_drop when last looked at while pacing
  bool polling_ = false;
  bool paused_ = false;
  bool started_ = false;
  bool inCallback_ = false;
  bool closePending_ = false;
  bool closed_ = false;
  bool nano_ = true;
  int linkType_ = 0;
  int snaplen_ = 0;
  size_t maxBatchBytes_ = 1 << 20;
  std::string warning_;
  std::string readError_;
  // The batch being built: bytes [0, used_) of out_, which is either batch_ (a block of capacity_ bytes, reused
  // for every batch and copied once into the Buffer handed to JavaScript) or a pool slot: a Buffer JavaScript
  // gave us with provide() and hands back once its consumer is done with a batch, written in place and handed
  // over without a copy. (Handing batch_ itself over as an external buffer measured slower: memory freed by GC
  // finalizers comes back late, so each batch landed on freshly faulted pages.)
  struct Slot {
    Napi::Reference<Napi::Buffer<uint8_t>> ref;
    uint8_t* data = nullptr;
    size_t size = 0;
  };
  std::vector<Slot> freeSlots_;
  Slot slot_;
  bool InSlot() const { return slot_.data != nullptr; }  // the batch being built is in slot_
  uint8_t* out_ = nullptr;
  size_t outCapacity_ = 0;
  uint8_t* batch_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
  bool allocFailed_ = false;
  int packetsInBatch_ = 0;
  uint64_t lost_ = 0;  // packets read from the kernel but not stored (out of memory)
  bool Reserve(size_t extra);
  // The batch built by Collect() for JavaScript: data, and whether it is a pool slot (of which `used_` bytes count).
  struct Taken {
    Napi::Buffer<uint8_t> data;
    bool pooled;
    size_t used;
  };
  Taken TakeBatch(Napi::Env env);
  void ReleaseSlots();
  uint64_t delivered_ = 0;  // packets handed to JS
  uint64_t batches_ = 0;
  uint64_t reads_ = 0;  // wake-ups that read the ring
  pcap_stat lastStats_{};
  bool haveLastStats_ = false;
  Napi::FunctionReference onBatch_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
};

}  // namespace pcapcf
