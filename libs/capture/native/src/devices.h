#pragma once
#include <napi.h>

namespace pcapcf {
// listDevices(nsPath?: string): DeviceInfo[]
Napi::Value ListDevices(const Napi::CallbackInfo& info);
// compileFilter(filter: string, linkType: number, snaplen: number): string | null (libpcap's error text)
Napi::Value CompileFilter(const Napi::CallbackInfo& info);
}  // namespace pcapcf
