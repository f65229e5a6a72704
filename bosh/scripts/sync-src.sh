#!/usr/bin/env bash
# Copies the sources the `pcap` package builds from into bosh/src/pcap (ignored by git): the tracked files of
# apps/ and libs/ without tests, and the root build files. Run before `bosh create-release`.
set -euo pipefail
release=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$release/.." && pwd)
dest=$release/src/pcap
rm -rf "$dest"
mkdir -p "$dest"
cd "$repo"
git ls-files -z -- package.json package-lock.json tsconfig.json nest-cli.json apps libs \
  | grep -zvE '(^|/)test/|\.spec\.ts$|\.e2e-spec\.ts$' \
  | xargs -0 cp --parents -t "$dest"
echo "sync-src: $(find "$dest" -type f | wc -l) files in ${dest#"$repo"/}"
