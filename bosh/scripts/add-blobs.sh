#!/usr/bin/env bash
# Fetches the release's blobs and registers them with `bosh add-blob` (config/blobs.yml):
#   node/node-v<NODE_VERSION>-linux-x64.tar.xz   checked against nodejs.org's SHASUMS256.txt
#   libpcap/libpcap-<LIBPCAP_VERSION>.tar.xz     checked against LIBPCAP_SHA256 when given
#   pcap-npm-cache/npm-cache-<lock hash>.tgz     the npm cache of `npm ci` for package-lock.json, so the pcap
#                                                package installs offline on the compilation VM
#
#   NODE_VERSION=20.19.5 LIBPCAP_VERSION=1.10.5 [LIBPCAP_SHA256=...] bosh/scripts/add-blobs.sh
#
# Then `bosh upload-blobs` (final releases) or `bosh create-release --force` (dev releases).
set -euo pipefail
release=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$release/.." && pwd)
: "${NODE_VERSION:?set NODE_VERSION, e.g. 20.19.5 (the Node.js line the project's engines allow)}"
: "${LIBPCAP_VERSION:?set LIBPCAP_VERSION, e.g. 1.10.5}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

node_tar=node-v${NODE_VERSION}-linux-x64.tar.xz
curl -fsSLO "https://nodejs.org/dist/v${NODE_VERSION}/${node_tar}"
curl -fsSLO "https://nodejs.org/dist/v${NODE_VERSION}/SHASUMS256.txt"
grep " ${node_tar}\$" SHASUMS256.txt | sha256sum -c -

pcap_tar=libpcap-${LIBPCAP_VERSION}.tar.xz
curl -fsSLO "https://www.tcpdump.org/release/${pcap_tar}"
if [ -n "${LIBPCAP_SHA256:-}" ]; then
  echo "${LIBPCAP_SHA256}  ${pcap_tar}" | sha256sum -c -
else
  echo "add-blobs: ${pcap_tar} sha256 $(sha256sum "$pcap_tar" | cut -d' ' -f1) (not checked: LIBPCAP_SHA256 unset)"
fi

# An npm cache holding exactly what `npm ci` needs for the lock file (run here with network access).
lock_hash=$(sha256sum "$repo/package-lock.json" | cut -c1-12)
mkdir app cache
cp "$repo/package.json" "$repo/package-lock.json" app/
(cd app && npm ci --ignore-scripts --no-audit --no-fund --cache "$work/cache" >/dev/null)
tar -czf "npm-cache-${lock_hash}.tgz" -C cache .

cd "$release"
bosh add-blob "$work/$node_tar" "node/$node_tar"
bosh add-blob "$work/$pcap_tar" "libpcap/$pcap_tar"
bosh add-blob "$work/npm-cache-${lock_hash}.tgz" "pcap-npm-cache/npm-cache-${lock_hash}.tgz"
echo "add-blobs: done; remove superseded blobs with 'bosh remove-blob' so each package finds exactly one"
