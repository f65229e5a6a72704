{
  "target_defaults": {
    "libraries": ["-lpcap"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"]
  },
  "targets": [
    {
      "target_name": "pcap_capture",
      "sources": ["src/addon.cc", "src/live-capture.cc", "src/pcap-open.cc", "src/netns.cc", "src/devices.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"]
    },
    {
      "target_name": "pcap_capture_worker",
      "type": "executable",
      "sources": ["src/capture-worker.cc", "src/pcap-open.cc", "src/netns.cc"],
      "ldflags": ["-pthread"]
    }
  ]
}
