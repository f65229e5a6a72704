#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine (run as root): system packages, npm dependencies,
# and the native capture engine (built by npm's postinstall). Safe to run again: it skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  libpcap-dev    # the capture engine links libpcap
  g++ make python3  # node-gyp builds the addon
  tshark         # tests check every written file with the real Wireshark tools (tshark, capinfos)
  tcpdump        # the reference the engine is compared with (tests, bench)
  iproute2       # test hosts in network namespaces
  runc busybox-static  # simulated Diego cells: real runc containers with a busybox rootfs
  openssl        # certificates for local mTLS; verifies the Node.js Foundation signature of the macOS node (build:cli)
  file           # CLI tests check the type of every built executable (ELF, Mach-O)
  ca-certificates
  prometheus     # promtool checks the /metrics output of both apps
  golang-go      # builds the Go net/rpc server that stands in for the cf CLI in plugin tests, and macho-inspect
  ruby           # renders the BOSH job templates with ERB, as the director does
  postgresql     # scheduled captures with several API instances share a PostgreSQL database
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
else
  npm run --silent build:native >/dev/null
fi
echo "setup: done ($(node -e "console.log(require('./libs/capture/native/build/Release/pcap_capture.node').libVersion())"))"
