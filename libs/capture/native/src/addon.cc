// Node-API entry point of the capture engine. The TypeScript face is libs/capture/src/engine/native.ts;
// nothing else loads this module.
#include <malloc.h>
#include <napi.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "devices.h"
#include "live-capture.h"

namespace {

Napi::Value LibVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), pcap_lib_version());
}

// A connected pair of UNIX stream sockets, both close-on-exec: the channel of a capture worker. The parent
// reads one end; the other becomes the worker's stdout (spawn's dup2 clears close-on-exec there only), so no
// other child inherits either end and the reader sees end of file exactly when the worker is gone.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    Napi::Error::New(env, std::string("socketpair: ") + std::strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, fds[0]));
  pair.Set(1u, Napi::Number::New(env, fds[1]));
  return pair;
}

// Shared memory for a capture worker's batches: a close-on-exec memfd of `bytes` bytes, and a Buffer over its
// mapping in this process (unmapped when the Buffer is collected). The fd becomes the worker's fd 3 (spawn's dup2
// clears close-on-exec there only); the caller closes its own copy once the worker is started.
Napi::Value SharedMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double requested = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(requested > 0 && requested <= double(1u << 30))) {
    Napi::RangeError::New(env, "sharedMemory(bytes): 1 byte to 1 GiB").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t bytes = static_cast<size_t>(requested);
  const int fd = memfd_create("pcap-capture-batches", MFD_CLOEXEC);
  if (fd < 0) {
    Napi::Error::New(env, std::string("memfd_create: ") + std::strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  void* p = MAP_FAILED;
  if (ftruncate(fd, static_cast<off_t>(bytes)) == 0) {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  if (p == MAP_FAILED) {
    const int err = errno;
    close(fd);
    Napi::Error::New(env, std::string("shared memory: ") + std::strerror(err)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(
      env, static_cast<uint8_t*>(p), bytes, [bytes](Napi::Env, uint8_t* data) { munmap(data, bytes); });
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, fd));
  result.Set("buffer", buffer);
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Every batch is a fresh buffer of 100 KiB to 1 MiB. Above glibc's default mmap threshold (128 KiB, raised
  // only as large chunks are freed) each one is a new mapping that the kernel must fault in and zero page by
  // page, which cost more CPU than reading the packets. Keeping such buffers in the heap, and not trimming it
  // at once, lets freed batch memory be reused. Set once, when the engine is first loaded.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  exports.Set("LiveCapture", pcapcf::LiveCapture::Init(env));
  exports.Set("listDevices", Napi::Function::New(env, pcapcf::ListDevices, "listDevices"));
  exports.Set("compileFilter", Napi::Function::New(env, pcapcf::CompileFilter, "compileFilter"));
  exports.Set("libVersion", Napi::Function::New(env, LibVersion, "libVersion"));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair, "socketPair"));
  exports.Set("sharedMemory", Napi::Function::New(env, SharedMemory, "sharedMemory"));
  return exports;
}

}  // namespace

NODE_API_MODULE(pcap_capture, Init)
