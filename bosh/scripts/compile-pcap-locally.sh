#!/usr/bin/env bash
# Checks the pcap package on this machine the way a BOSH compilation VM builds it, then starts the packaged agent
# the way its rendered bpm.yml says. Run as root (it uses a private mount namespace; nothing outside it changes).
#
#   bosh/scripts/compile-pcap-locally.sh [work-dir]
#
# In the namespace /var is a scratch dir: /var/vcap/packages/node and /var/vcap/packages/libpcap are stand-ins made
# from this machine's Node.js and libpcap (their own packaging scripts need the blobs), the package's files are
# gathered by its spec's globs from src/ (scripts/sync-src.sh) and the npm cache blob (bosh/blobs, else one made
# from ~/.npm), and packages/pcap/packaging runs with BOSH_INSTALL_TARGET=/var/vcap/packages/pcap. Then the
# pcap-agent job is rendered (test/render.rb) and its bpm.yml process started until it listens.
set -euo pipefail
release=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/pcap-compile.XXXXXX)}
mkdir -p "$work"
echo "compile-pcap-locally: work dir $work"

"$release/scripts/sync-src.sh"
shopt -s nullglob
caches=("$release"/blobs/pcap-npm-cache/npm-cache-*.tgz)
if [ ${#caches[@]} -eq 0 ]; then
  echo "compile-pcap-locally: no npm cache blob; packing ~/.npm"
  tar -czf "$work/npm-cache-local.tgz" -C "$HOME/.npm" .
  cache=$work/npm-cache-local.tgz
else
  cache=${caches[0]}
fi

# The compile dir: what BOSH puts there, each file of the spec's `files:` globs at its path below src/ or blobs/.
compile=$work/compile/pcap
rm -rf "$compile"
mkdir -p "$compile/pcap-npm-cache"
(cd "$release/src" && shopt -s globstar && for f in pcap/package.json pcap/package-lock.json pcap/tsconfig.json \
  pcap/nest-cli.json pcap/apps/**/* pcap/libs/**/*; do
  [ -f "$f" ] && install -D -m 0644 "$f" "$compile/$f"
done)
cp "$cache" "$compile/pcap-npm-cache/npm-cache-local.tgz"

gen=$work/certs
"$release/../scripts/gen-certs.sh" "$gen" >/dev/null
mkdir -p "$work/var"
unshare --mount --propagation private bash -euo pipefail -c '
  release=$1 work=$2 compile=$3 gen=$4
  mount --bind "$work/var" /var
  rm -rf /var/vcap && mkdir -p /var/vcap/packages/node/bin /var/vcap/packages/libpcap /var/vcap/packages/pcap /var/vcap/jobs
  for tool in node npm npx; do ln -s "$(command -v $tool)" /var/vcap/packages/node/bin/$tool; done
  ln -s /usr/include /var/vcap/packages/node/include
  ln -s /usr/include /var/vcap/packages/libpcap/include
  ln -s /usr/lib/x86_64-linux-gnu /var/vcap/packages/libpcap/lib
  cd "$compile"
  start=$SECONDS
  BOSH_INSTALL_TARGET=/var/vcap/packages/pcap BOSH_COMPILE_TARGET=$compile BOSH_PACKAGE_NAME=pcap \
    bash "$release/packages/pcap/packaging" > "$work/packaging.log" 2>&1 || { tail -40 "$work/packaging.log"; exit 1; }
  echo "compile-pcap-locally: packaging ok in $((SECONDS - start)) s; addon: $(tail -1 "$work/packaging.log")"
  du -sh /var/vcap/packages/pcap | sed "s/^/compile-pcap-locally: package size /"

  # The pcap-agent job, rendered and started as bpm would start it.
  ruby -rjson -e "r = ->(f) { File.read(File.join(ARGV[0], f)) }
    puts({ properties: { listen: { host: \"127.0.0.1\", port: 0 },
      tls: { certificate: r.(\"agent.crt\"), private_key: r.(\"agent.key\"), client_ca: r.(\"ca.crt\") } },
      spec: { name: \"diego-cell\", id: \"local\" } }.to_json)" "$gen" > "$work/agent-context.json"
  ruby "$release/test/render.rb" "$release/jobs/pcap-agent" "$work/agent-context.json" /var/vcap/jobs/pcap-agent
  mapfile -t cmd < <(ruby -ryaml -e "p = YAML.load_file(ARGV[0])[\"processes\"][0]; puts p[\"executable\"], *p[\"args\"]" \
    /var/vcap/jobs/pcap-agent/config/bpm.yml)
  export LD_LIBRARY_PATH=/var/vcap/packages/libpcap/lib NODE_ENV=production
  cd /
  "${cmd[@]}" > "$work/agent.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/agent.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.2; done
  if grep -q "listening on" "$work/agent.log"; then
    echo "compile-pcap-locally: packaged agent started: $(grep -o "listening on [^\"]*" "$work/agent.log" | head -1)"
    kill -TERM $pid; wait $pid && echo "compile-pcap-locally: packaged agent exited 0 on SIGTERM"
  else
    echo "compile-pcap-locally: packaged agent did not start:"; cat "$work/agent.log"; kill $pid 2>/dev/null; exit 1
  fi
' _ "$release" "$work" "$compile" "$gen"
