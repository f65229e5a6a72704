// Node-API entry point of the capture engine. The TypeScript face is libs/capture/src/engine/native.ts;
// nothing else loads this module.
#include <napi.h>
#include <pcap/pcap.h>

#include "devices.h"
#include "live-capture.h"

namespace {

Napi::Value LibVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), pcap_lib_version());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("LiveCapture", pcapcf::LiveCapture::Init(env));
  exports.Set("listDevices", Napi::Function::New(env, pcapcf::ListDevices, "listDevices"));
  exports.Set("compileFilter", Napi::Function::New(env, pcapcf::CompileFilter, "compileFilter"));
  exports.Set("libVersion", Napi::Function::New(env, LibVersion, "libVersion"));
  return exports;
}

}  // namespace

NODE_API_MODULE(pcap_capture, Init)
