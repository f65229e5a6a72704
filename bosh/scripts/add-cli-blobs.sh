#!/usr/bin/env bash
# Builds the cf CLI plugin and the standalone CLI (`npm run build:cli`: single executables for linux-amd64,
# darwin-amd64, darwin-arm64, the .js bundles and SHA256SUMS, about 714 MB) and makes them the blobs of the
# pcap-cli package (pcap-cli/<file>), so the compilation VM needs no network:
#   - with the bosh CLI on PATH: `bosh add-blob` each file (config/blobs.yml; then `bosh upload-blobs` for final
#     releases);
#   - without it: copies them into blobs/pcap-cli/, where `bosh create-release --force` (a dev release) finds
#     them just as well.
#
#   bosh/scripts/add-cli-blobs.sh [--from DIR]
#
# --from DIR takes the files of an earlier `npm run build:cli -- DIR` instead of building. The build fetches the
# Node.js binaries from the npm registry (cached under node_modules/.cache/pcap-cli-node). PCAP_RELEASE_DIR
# names another release directory to add the blobs to (the tests' temp copy); default this script's bosh/.
set -euo pipefail
own=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$own/.." && pwd)
release=${PCAP_RELEASE_DIR:-$own}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "${1:-}" = --from ]; then
  built=$(cd "${2:?--from needs a directory}" && pwd)
else
  built=$work/cli
  (cd "$repo" && npm run --silent build:cli -- "$built")
fi

# Exactly the files the package spec lists, each present and non-empty.
mapfile -t files < <(sed -n 's|^- pcap-cli/||p' "$own/packages/pcap-cli/spec")
[ ${#files[@]} -gt 0 ] || { echo "add-cli-blobs: no pcap-cli/ files in $own/packages/pcap-cli/spec" >&2; exit 1; }
for file in "${files[@]}"; do
  [ -s "$built/$file" ] || { echo "add-cli-blobs: $built/$file is missing or empty" >&2; exit 1; }
done
(cd "$built" && sha256sum --check --strict --quiet SHA256SUMS)

cd "$release"
if command -v bosh >/dev/null; then
  for file in "${files[@]}"; do bosh add-blob "$built/$file" "pcap-cli/$file"; done
  echo "add-cli-blobs: ${#files[@]} blobs added (config/blobs.yml); 'bosh upload-blobs' before a final release"
else
  mkdir -p blobs/pcap-cli
  # --remove-destination: a file `bosh add-blob` placed there before may be a link into its .blobs/ cache.
  for file in "${files[@]}"; do cp --remove-destination "$built/$file" "blobs/pcap-cli/$file"; done
  echo "add-cli-blobs: no bosh CLI; ${#files[@]} files copied to ${release}/blobs/pcap-cli/ (dev releases:" \
    "bosh create-release --force); $(du -sh blobs/pcap-cli | cut -f1) in all"
fi
