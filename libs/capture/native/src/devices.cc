#include "devices.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <pcap/pcap.h>

#include <map>
#include <string>
#include <vector>

#include "netns.h"

namespace pcapcf {
namespace {

struct Address {
  std::string family;
  std::string address;
  std::string netmask;
};

struct Device {
  std::string name;
  unsigned index = 0;
  unsigned flags = 0;
  std::vector<Address> addresses;
};

std::string FormatAddress(const sockaddr* sa) {
  if (sa == nullptr) return "";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

// getifaddrs() asks the kernel over netlink from a socket created on the calling thread, so inside the
// namespace thread it sees that namespace's links. (pcap_findalldevs also scans /sys/class/net and /proc/net,
// which show the namespace of the process, not of the thread, so it would mix in the host's devices.)
bool CollectDevices(std::vector<Device>* out, std::string* error) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    *error = "getifaddrs failed: " + ErrnoText(errno);
    return false;
  }
  std::map<std::string, size_t> byName;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    std::string name = it->ifa_name;
    auto found = byName.find(name);
    if (found == byName.end()) {
      Device d;
      d.name = name;
      d.index = if_nametoindex(it->ifa_name);
      d.flags = it->ifa_flags;
      out->push_back(d);
      found = byName.emplace(name, out->size() - 1).first;
    }
    Device& dev = (*out)[found->second];
    if (it->ifa_addr == nullptr) continue;
    int fam = it->ifa_addr->sa_family;
    if (fam == AF_INET || fam == AF_INET6) {
      dev.addresses.push_back(
          {fam == AF_INET ? "inet" : "inet6", FormatAddress(it->ifa_addr), FormatAddress(it->ifa_netmask)});
    }
  }
  freeifaddrs(list);
  return true;
}

}  // namespace

Napi::Value ListDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string nsPath;
  if (info.Length() > 0 && info[0].IsString()) nsPath = info[0].As<Napi::String>().Utf8Value();

  std::vector<Device> devices;
  std::string listError;
  bool listed = false;
  NativeError err;
  if (!RunInNetns(nsPath, [&]() { listed = CollectDevices(&devices, &listError); }, &err)) {
    Napi::Error e = Napi::Error::New(env, err.message);
    e.Set("code", Napi::String::New(env, err.code));
    throw e;
  }
  if (!listed) {
    Napi::Error e = Napi::Error::New(env, listError);
    e.Set("code", Napi::String::New(env, "CAPTURE_FAILED"));
    throw e;
  }

  Napi::Array result = Napi::Array::New(env, devices.size());
  for (size_t i = 0; i < devices.size(); i++) {
    const Device& d = devices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("index", Napi::Number::New(env, d.index));
    o.Set("up", Napi::Boolean::New(env, (d.flags & IFF_UP) != 0));
    o.Set("running", Napi::Boolean::New(env, (d.flags & IFF_RUNNING) != 0));
    o.Set("loopback", Napi::Boolean::New(env, (d.flags & IFF_LOOPBACK) != 0));
    Napi::Array addrs = Napi::Array::New(env, d.addresses.size());
    for (size_t j = 0; j < d.addresses.size(); j++) {
      Napi::Object a = Napi::Object::New(env);
      a.Set("family", d.addresses[j].family);
      a.Set("address", d.addresses[j].address);
      a.Set("netmask", d.addresses[j].netmask);
      addrs.Set(static_cast<uint32_t>(j), a);
    }
    o.Set("addresses", addrs);
    result.Set(static_cast<uint32_t>(i), o);
  }
  return result;
}

Napi::Value CompileFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string filter = info[0].As<Napi::String>().Utf8Value();
  int linkType = info[1].As<Napi::Number>().Int32Value();
  int snaplen = info[2].As<Napi::Number>().Int32Value();
  pcap_t* dead = pcap_open_dead_with_tstamp_precision(linkType, snaplen, PCAP_TSTAMP_PRECISION_NANO);
  if (dead == nullptr) {
    throw Napi::Error::New(env, "pcap_open_dead failed");
  }
  bpf_program prog;
  Napi::Value result = env.Null();
  if (pcap_compile(dead, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    result = Napi::String::New(env, pcap_geterr(dead));
  } else {
    pcap_freecode(&prog);
  }
  pcap_close(dead);
  return result;
}

}  // namespace pcapcf
