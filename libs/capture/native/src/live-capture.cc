#include "live-capture.h"

#include <string.h>

#include <algorithm>

#include "netns.h"
#include "pcap-open.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "batches are written as little-endian pcapng blocks; big-endian hosts are not supported"
#endif

namespace pcapcf {
namespace {

[[noreturn]] void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

std::string GetString(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
}
int GetInt(const Napi::Object& o, const char* key, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}
bool GetBool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

}  // namespace

Napi::Function LiveCapture::Init(Napi::Env env) {
  return DefineClass(env, "LiveCapture",
                     {
                         InstanceMethod("start", &LiveCapture::Start),
                         InstanceMethod("pause", &LiveCapture::Pause),
                         InstanceMethod("resume", &LiveCapture::Resume),
                         InstanceMethod("readNow", &LiveCapture::ReadNow),
                         InstanceMethod("provide", &LiveCapture::Provide),
                         InstanceMethod("stats", &LiveCapture::Stats),
                         InstanceMethod("close", &LiveCapture::Close),
                         InstanceAccessor("linkType", &LiveCapture::GetLinkType, nullptr),
                         InstanceAccessor("snaplen", &LiveCapture::GetSnaplen, nullptr),
                         InstanceAccessor("precision", &LiveCapture::GetPrecision, nullptr),
                         InstanceAccessor("warning", &LiveCapture::GetWarning, nullptr),
                     });
}

LiveCapture::LiveCapture(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LiveCapture>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowCoded(env, "INVALID_OPTION", "options object required");
  }
  Napi::Object o = info[0].As<Napi::Object>();
  OpenRequest req;
  req.device = GetString(o, "device", "");
  req.netns = GetString(o, "netns", "");
  req.filter = GetString(o, "filter", "");
  req.snaplen = GetInt(o, "snaplen", 65535);
  req.bufferSize = GetInt(o, "bufferSize", 0);
  req.timeoutMs = GetInt(o, "timeoutMs", 100);
  req.promiscuous = GetBool(o, "promiscuous", false);
  req.immediate = GetBool(o, "immediate", true);
  int maxBatch = GetInt(o, "maxBatchBytes", 1 << 20);
  maxBatchBytes_ = maxBatch > 0 ? static_cast<size_t>(maxBatch) : (1u << 20);
  if (req.device.empty()) ThrowCoded(env, "INVALID_OPTION", "device is required");

  OpenResult result;
  NativeError nsError;
  if (!RunInNetns(req.netns, [&]() { OpenHandle(req, &result); }, &nsError)) {
    ThrowCoded(env, nsError.code, nsError.message);
  }
  if (result.handle == nullptr) ThrowCoded(env, result.error.code, result.error.message);

  handle_ = result.handle;
  lingerMs_ = req.immediate ? 0 : req.timeoutMs;
  pacer_ = ReadPacer(req.bufferSize, req.timeoutMs, req.immediate, maxBatchBytes_);
  warning_ = result.warning;
  nano_ = result.nano;
  linkType_ = pcap_datalink(handle_);
  snaplen_ = pcap_snapshot(handle_);
}

LiveCapture::~LiveCapture() {
  // Only reachable when the capture was never started or already closed: a started capture holds a reference
  // to its wrapper until close().
  if (handle_ != nullptr) {
    pcap_close(handle_);
    handle_ = nullptr;
  }
  free(batch_);
}

Napi::Value LiveCapture::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowCoded(env, "CAPTURE_CLOSED", "capture is closed");
  if (started_) ThrowCoded(env, "INVALID_OPTION", "capture already started");
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowCoded(env, "INVALID_OPTION", "callback required");
  onBatch_ = Napi::Persistent(info[0].As<Napi::Function>());
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "pcap:LiveCapture");

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  int fd = pcap_get_selectable_fd(handle_);
  if (fd < 0) ThrowCoded(env, "CAPTURE_FAILED", "device has no selectable file descriptor");
  poll_ = new uv_poll_t;
  int rc = uv_poll_init(loop, poll_, fd);
  if (rc != 0) {
    delete poll_;
    poll_ = nullptr;
    ThrowCoded(env, "CAPTURE_FAILED", std::string("uv_poll_init: ") + uv_strerror(rc));
  }
  poll_->data = this;
  lingerTimer_ = new uv_timer_t;
  uv_timer_init(loop, lingerTimer_);
  lingerTimer_->data = this;
  paceTimer_ = new uv_timer_t;
  uv_timer_init(loop, paceTimer_);
  paceTimer_->data = this;
  started_ = true;
  Ref();  // keep the wrapper alive while libuv may call back into it
  if (!paused_) {
    uv_poll_start(poll_, UV_READABLE, &LiveCapture::OnPoll);
    polling_ = true;
  }
  return env.Undefined();
}

Napi::Value LiveCapture::Pause(const Napi::CallbackInfo& info) {
  paused_ = true;
  StopPolling();
  StopPacing();
  return info.Env().Undefined();
}

Napi::Value LiveCapture::Resume(const Napi::CallbackInfo& info) {
  paused_ = false;
  // (a paced read already due goes on as it is)
  if (started_ && !closed_ && !polling_ && !pacing_ && poll_ != nullptr && readError_.empty()) {
    uv_poll_start(poll_, UV_READABLE, &LiveCapture::OnPoll);
    polling_ = true;
  }
  // a batch held while paused goes out within lingerMs_ even if nothing more arrives
  if (used_ > 0 && !lingering_ && !closed_ && lingerTimer_ != nullptr) {
    uv_timer_start(lingerTimer_, &LiveCapture::OnLingerTimer, static_cast<uint64_t>(lingerMs_), 0);
    lingering_ = true;
  }
  return info.Env().Undefined();
}

void LiveCapture::StopPolling() {
  if (polling_ && poll_ != nullptr) {
    uv_poll_stop(poll_);
    polling_ = false;
  }
}

void LiveCapture::OnPacket(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
  LiveCapture* self = reinterpret_cast<LiveCapture*>(user);
  const uint32_t blockLen = EpbLength(h->caplen);
  if (!self->Reserve(blockLen)) {
    self->allocFailed_ = true;  // the read loop stops after this dispatch
    self->lost_++;
    return;
  }
  self->packetsInBatch_++;
  self->ringRead_ += ReadPacer::RingFootprint(h->caplen);
  uint8_t* b = self->out_ + self->used_;
  self->used_ += blockLen;
  if (self->InSlot()) {
    WriteEpb<true>(b, h, bytes, self->nano_);
  } else {
    WriteEpb(b, h, bytes, self->nano_);
  }
  // One pcap_dispatch() reads every block the kernel has ready (up to the whole ring): stop it once the batch is
  // full, so that a batch stays within maxBatchBytes plus one packet (what a pool slot is sized for). libpcap
  // resumes inside the block on the next call.
  if (self->used_ >= self->maxBatchBytes_) pcap_breakloop(self->handle_);
}

bool LiveCapture::Reserve(size_t extra) {
  if (used_ + extra <= outCapacity_) return true;
  if (InSlot()) return false;  // cannot happen: a slot holds maxBatchBytes plus the largest packet
  size_t want = std::max(capacity_ * 2, std::max<size_t>(used_ + extra, 256 * 1024));
  uint8_t* grown = static_cast<uint8_t*>(realloc(batch_, want));
  if (grown == nullptr) return false;
  batch_ = grown;
  capacity_ = want;
  out_ = batch_;
  outCapacity_ = capacity_;
  return true;
}

LiveCapture::Taken LiveCapture::TakeBatch(Napi::Env env) {
  StopLinger();
  StreamFence();  // a slot's EPBs were written with streaming stores; JavaScript may hand them to another thread
  size_t length = used_;
  used_ = 0;
  packetsInBatch_ = 0;
  if (InSlot()) {
    Napi::Buffer<uint8_t> data = slot_.ref.Value();
    slot_.ref.Reset();
    slot_.data = nullptr;
    return {data, true, length};
  }
  return {Napi::Buffer<uint8_t>::Copy(env, batch_, length), false, length};
}

Napi::Value LiveCapture::Provide(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) ThrowCoded(env, "INVALID_OPTION", "provide(buffer): buffer required");
  if (closed_) return env.Undefined();  // nothing to fill any more: the buffer stays JavaScript's
  Napi::Buffer<uint8_t> buffer = info[0].As<Napi::Buffer<uint8_t>>();
  const size_t needed = maxBatchBytes_ + EpbLength(static_cast<uint32_t>(snaplen_));
  if (buffer.Length() < needed) {
    ThrowCoded(env, "INVALID_OPTION",
               "a batch buffer needs " + std::to_string(needed) + " bytes (maxBatchBytes plus one packet)");
  }
  // The same memory twice would let two batches share it.
  if (slot_.data == buffer.Data()) return env.Undefined();
  for (const Slot& s : freeSlots_) {
    if (s.data == buffer.Data()) return env.Undefined();
  }
  Slot slot;
  slot.ref = Napi::Persistent(buffer);
  slot.data = buffer.Data();
  slot.size = buffer.Length();
  freeSlots_.push_back(std::move(slot));
  return env.Undefined();
}

void LiveCapture::ReleaseSlots() {
  freeSlots_.clear();
  slot_.ref.Reset();
  slot_.data = nullptr;
}

int LiveCapture::Collect() {
  allocFailed_ = false;
  if (used_ == 0) {  // a new batch (else: more for the one held)
    packetsInBatch_ = 0;
    if (!InSlot() && !freeSlots_.empty()) {
      slot_ = std::move(freeSlots_.back());
      freeSlots_.pop_back();
    }
    out_ = InSlot() ? slot_.data : batch_;
    outCapacity_ = InSlot() ? slot_.size : capacity_;
  }
  cutAtLimit_ = false;
  while (handle_ != nullptr && used_ < maxBatchBytes_ && !allocFailed_) {
    int n = pcap_dispatch(handle_, -1, &LiveCapture::OnPacket, reinterpret_cast<u_char*>(this));
    if (n < 0) {
      if (n == PCAP_ERROR_BREAK) {
        cutAtLimit_ = true;  // OnPacket filled the batch
        break;
      }
      readError_ = pcap_geterr(handle_);
      if (readError_.empty()) readError_ = "read error";
      return packetsInBatch_ > 0 ? packetsInBatch_ : -1;
    }
    if (n == 0) break;
  }
  return packetsInBatch_;
}

void LiveCapture::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  LiveCapture* self = static_cast<LiveCapture*>(handle->data);
  if (self == nullptr || self->closed_) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  if (status < 0) {
    self->readError_ = std::string("poll failed: ") + uv_strerror(status);
    self->StopPolling();
    self->DeliverError(self->readError_);
    return;
  }
  self->pacedWake_ = false;
  self->ReadReady();
}

void LiveCapture::OnPaceTimer(uv_timer_t* timer) {
  LiveCapture* self = static_cast<LiveCapture*>(timer->data);
  if (self == nullptr) return;
  self->pacing_ = false;
  if (self->closed_ || self->paused_) return;
  Napi::HandleScope scope(self->Env());
  self->pacedWake_ = true;
  self->ReadReady();
}

void LiveCapture::ReadReady() {
  ringRead_ = 0;
  reads_++;
  for (;;) {
    const size_t before = used_;
    const bool afterCut = cutAtLimit_;
    int n = Collect();
    // The batch filled up with more still in the ring: a paced read goes on (nothing else will wake it soon); a
    // wake-up of the descriptor's returns to the loop, which polls the descriptor again at once.
    const bool more = cutAtLimit_ && pacedWake_;
    if (n > 0 && !(readError_.empty() && Linger(used_ - before, afterCut))) DeliverBatch(n);
    if (!readError_.empty()) {
      if (!closed_) {
        StopPolling();
        StopPacing();
        DeliverError(readError_);
      }
      return;
    }
    if (!more || closed_ || closePending_ || paused_) break;
  }
  if (!closed_ && !closePending_ && !paused_) Pace();
}

void LiveCapture::Pace() {
  bool dropped = false;
  pcap_stat s{};
  const bool wasPacing = pacedWake_;
  if (wasPacing && pcap_stats(handle_, &s) == 0) {
    dropped = s.ps_drop != dropsSeen_;
    dropsSeen_ = s.ps_drop;
  }
  const int ms = pacer_.AfterRead(ringRead_, uv_hrtime(), dropped);
  if (ms > 0) {
    if (!wasPacing && pcap_stats(handle_, &s) == 0) dropsSeen_ = s.ps_drop;  // drops from here on count
    StopPolling();
    uv_timer_start(paceTimer_, &LiveCapture::OnPaceTimer, static_cast<uint64_t>(ms), 0);
    pacing_ = true;
  } else if (!polling_ && poll_ != nullptr) {
    uv_poll_start(poll_, UV_READABLE, &LiveCapture::OnPoll);
    polling_ = true;
  }
}

void LiveCapture::StopPacing() {
  if (pacing_ && paceTimer_ != nullptr) uv_timer_stop(paceTimer_);
  pacing_ = false;
}

bool LiveCapture::Linger(size_t read, bool afterCut) {
  if (lingerMs_ <= 0 || lingerTimer_ == nullptr || closePending_) return false;
  if (!GatherMore(read, afterCut, used_, maxBatchBytes_)) return false;
  if (!lingering_) {
    uv_timer_start(lingerTimer_, &LiveCapture::OnLingerTimer, static_cast<uint64_t>(lingerMs_), 0);
    lingering_ = true;
  }
  return true;
}

void LiveCapture::StopLinger() {
  if (lingering_ && lingerTimer_ != nullptr) uv_timer_stop(lingerTimer_);
  lingering_ = false;
}

void LiveCapture::OnLingerTimer(uv_timer_t* timer) {
  LiveCapture* self = static_cast<LiveCapture*>(timer->data);
  if (self == nullptr) return;
  self->lingering_ = false;
  // paused: the consumer has enough; Resume() restarts the timer
  if (self->closed_ || self->paused_ || self->used_ == 0) return;
  Napi::HandleScope scope(self->Env());
  self->DeliverBatch(self->packetsInBatch_);
}

void LiveCapture::DeliverBatch(int count) {
  Napi::Env env = Env();
  Taken taken = TakeBatch(env);
  delivered_ += static_cast<uint64_t>(count);
  batches_++;
  inCallback_ = true;
  try {
    onBatch_.MakeCallback(Value(),
                          {env.Null(), taken.data, Napi::Number::New(env, count), Napi::Boolean::New(env, taken.pooled),
                           Napi::Number::New(env, static_cast<double>(taken.used))},
                          *asyncContext_);
  } catch (const Napi::Error& e) {
    inCallback_ = false;
    if (closePending_) DoClose();
    // An exception thrown by the JS handler belongs to the process, as for any event emitter.
    napi_fatal_exception(env, e.Value());
    return;
  }
  inCallback_ = false;
  if (closePending_) DoClose();
}

void LiveCapture::DeliverError(const std::string& message) {
  Napi::Env env = Env();
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, "CAPTURE_FAILED"));
  inCallback_ = true;
  try {
    onBatch_.MakeCallback(Value(), {err.Value(), env.Null(), Napi::Number::New(env, 0)}, *asyncContext_);
  } catch (const Napi::Error& e) {
    inCallback_ = false;
    if (closePending_) DoClose();
    napi_fatal_exception(env, e.Value());
    return;
  }
  inCallback_ = false;
  if (closePending_) DoClose();
}

Napi::Value LiveCapture::ReadNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_ || handle_ == nullptr) return env.Null();
  int n = Collect();
  if (n < 0) {
    ThrowCoded(env, "CAPTURE_FAILED", readError_);
  }
  if (n == 0) return env.Null();
  delivered_ += static_cast<uint64_t>(n);
  batches_++;
  Taken taken = TakeBatch(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", taken.data);
  o.Set("count", Napi::Number::New(env, n));
  o.Set("pooled", Napi::Boolean::New(env, taken.pooled));
  o.Set("used", Napi::Number::New(env, static_cast<double>(taken.used)));
  return o;
}

void LiveCapture::SnapshotStats() {
  if (handle_ == nullptr) return;
  pcap_stat s{};
  if (pcap_stats(handle_, &s) == 0) {
    lastStats_ = s;
    haveLastStats_ = true;
  }
}

Napi::Value LiveCapture::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!closed_) SnapshotStats();
  Napi::Object o = Napi::Object::New(env);
  // On Linux, ps_recv counts every packet that passed the filter, including those the kernel then dropped.
  o.Set("received", Napi::Number::New(env, haveLastStats_ ? lastStats_.ps_recv : 0));
  o.Set("dropped", Napi::Number::New(env, haveLastStats_ ? lastStats_.ps_drop : 0));
  o.Set("ifDropped", Napi::Number::New(env, haveLastStats_ ? lastStats_.ps_ifdrop : 0));
  o.Set("delivered", Napi::Number::New(env, static_cast<double>(delivered_)));
  o.Set("batches", Napi::Number::New(env, static_cast<double>(batches_)));
  o.Set("lost", Napi::Number::New(env, static_cast<double>(lost_)));
  o.Set("reads", Napi::Number::New(env, static_cast<double>(reads_)));
  return o;
}

Napi::Value LiveCapture::Close(const Napi::CallbackInfo& info) {
  if (inCallback_) {
    closePending_ = true;  // closing inside our own callback: finish after it returns
    StopPolling();
    StopPacing();
  } else {
    DoClose();
  }
  return info.Env().Undefined();
}

void LiveCapture::OnPollClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }
void LiveCapture::OnTimerClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); }

void LiveCapture::DoClose() {
  if (closed_) return;
  closed_ = true;
  closePending_ = false;
  StopPolling();
  SnapshotStats();
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    // libuv must stop watching the descriptor before pcap_close() closes it.
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), &LiveCapture::OnPollClosed);
    poll_ = nullptr;
  }
  if (paceTimer_ != nullptr) {
    StopPacing();
    paceTimer_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(paceTimer_), &LiveCapture::OnTimerClosed);
    paceTimer_ = nullptr;
  }
  if (lingerTimer_ != nullptr) {
    StopLinger();
    lingerTimer_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(lingerTimer_), &LiveCapture::OnTimerClosed);
    lingerTimer_ = nullptr;
  }
  used_ = 0;  // a batch held back is dropped with the capture (stop() drains it first)
  if (handle_ != nullptr) {
    pcap_close(handle_);
    handle_ = nullptr;
  }
  ReleaseSlots();
  if (started_) {
    onBatch_.Reset();
    Unref();
  }
}

Napi::Value LiveCapture::GetLinkType(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), linkType_);
}
Napi::Value LiveCapture::GetSnaplen(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), snaplen_);
}
Napi::Value LiveCapture::GetPrecision(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), nano_ ? "nano" : "micro");
}
Napi::Value LiveCapture::GetWarning(const Napi::CallbackInfo& info) {
  if (warning_.empty()) return info.Env().Null();
  return Napi::String::New(info.Env(), warning_);
}

}  // namespace pcapcf
