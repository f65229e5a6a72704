#include "pcap-open.h"

namespace pcapcf {
namespace {

std::string ActivateCode(int rc) {
  switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
      return "DEVICE_NOT_FOUND";
    case PCAP_ERROR_PERM_DENIED:
      return "PERMISSION_DENIED";
    case PCAP_ERROR_IFACE_NOT_UP:
      return "DEVICE_DOWN";
    default:
      return "CAPTURE_FAILED";
  }
}

}  // namespace

void OpenHandle(const OpenRequest& req, OpenResult* out) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* p = pcap_create(req.device.c_str(), errbuf);
  if (p == nullptr) {
    out->error = {"CAPTURE_FAILED", errbuf};
    return;
  }
  pcap_set_snaplen(p, req.snaplen);
  pcap_set_promisc(p, req.promiscuous ? 1 : 0);
  pcap_set_timeout(p, req.timeoutMs);
  pcap_set_immediate_mode(p, req.immediate ? 1 : 0);
  if (req.bufferSize > 0) pcap_set_buffer_size(p, req.bufferSize);
  if (pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) != 0) {
    out->nano = false;
  }
  int rc = pcap_activate(p);
  if (rc < 0) {
    std::string text = (rc == PCAP_ERROR) ? pcap_geterr(p) : pcap_statustostr(rc);
    if (rc == PCAP_ERROR_NO_SUCH_DEVICE || rc == PCAP_ERROR_PERM_DENIED) {
      std::string detail = pcap_geterr(p);
      if (!detail.empty()) text = detail;
    }
    out->error = {ActivateCode(rc), "cannot capture on " + req.device + ": " + text};
    pcap_close(p);
    return;
  }
  if (rc > 0) out->warning = pcap_geterr(p);
  out->nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;

  if (!req.filter.empty()) {
    bpf_program prog;
    if (pcap_compile(p, &prog, req.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      out->error = {"INVALID_FILTER", pcap_geterr(p)};
      pcap_close(p);
      return;
    }
    int set = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (set != 0) {
      out->error = {"CAPTURE_FAILED", std::string("cannot apply filter: ") + pcap_geterr(p)};
      pcap_close(p);
      return;
    }
  }
  if (pcap_setnonblock(p, 1, errbuf) != 0) {
    out->error = {"CAPTURE_FAILED", errbuf};
    pcap_close(p);
    return;
  }
  out->handle = p;
}

}  // namespace pcapcf
