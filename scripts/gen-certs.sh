#!/usr/bin/env bash
# Generates the certificates for agent <-> API mutual TLS, for local runs and tests (never for production).
#
#   scripts/gen-certs.sh <out-dir> [--days N] [--agent-name NAME] [--api-name NAME] [--test-extras]
#
# Writes into <out-dir> (created, mode 0700; keys mode 0600, never printed):
#   ca.crt ca.key                 the CA both sides trust
#   agent.crt agent.key           the agent's server certificate (CN/SAN = agent name, SANs localhost, 127.0.0.1)
#   api-client.crt api-client.key the API's client certificate (CN = api name, clientAuth)
# With --test-extras also, for negative tests:
#   other-ca.crt other-client.crt other-client.key   a client certificate from an unrelated CA
#   expired-client.crt expired-client.key            a client certificate of ca.crt that expired in 2020
#   stranger-client.crt stranger-client.key          a client certificate of ca.crt with CN stranger.example
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

[ $# -ge 1 ] || usage
out=$1; shift
days=365
agent_name=pcap-agent.service.cf.internal
api_name=pcap-api.service.cf.internal
extras=false
while [ $# -gt 0 ]; do
  case $1 in
    --days) days=$2; shift 2 ;;
    --agent-name) agent_name=$2; shift 2 ;;
    --api-name) api_name=$2; shift 2 ;;
    --test-extras) extras=true; shift ;;
    *) usage ;;
  esac
done

umask 077
mkdir -p "$out"
cd "$out"
work=$(mktemp -d ./.gen-certs.XXXXXX)
log=$work/openssl.log
# openssl's chatter goes to a log shown only on failure; it never contains key material.
trap 'status=$?; [ $status -eq 0 ] || cat "$log" >&2; rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>>"$log"; }

ca() { # name cn
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 3650 -subj "/CN=$2" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>>"$log"
}

leaf() { # name cn ca eku san
  key "$1.key"
  openssl req -new -key "$1.key" -out "$work/$1.csr" -subj "/CN=$2" 2>>"$log"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$4" "$5" >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -CAserial "$work/$(basename "$3").srl" \
    -days "$days" -sha256 -extfile "$work/$1.ext" -out "$1.crt" 2>>"$log"
}

ca ca 'pcap test CA'
leaf agent "$agent_name" ca serverAuth "DNS:$agent_name,DNS:localhost,IP:127.0.0.1"
leaf api-client "$api_name" ca clientAuth "DNS:$api_name"

if $extras; then
  ca "$work/other-ca" 'unrelated CA'
  cp "$work/other-ca.crt" other-ca.crt
  leaf other-client "$api_name" "$work/other-ca" clientAuth "DNS:$api_name"

  leaf stranger-client stranger.example ca clientAuth "DNS:stranger.example"

  # `openssl x509` cannot backdate; `openssl ca` can set both dates.
  key expired-client.key
  openssl req -new -key expired-client.key -out "$work/expired.csr" -subj "/CN=$api_name" 2>>"$log"
  : >"$work/index.txt"
  cat >"$work/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
x509_extensions = ext
[any]
commonName = supplied
[ext]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
CNF
  echo 01 >"$work/serial"
  openssl ca -batch -config "$work/ca.cnf" -cert ca.crt -keyfile ca.key -in "$work/expired.csr" \
    -startdate 20190101000000Z -enddate 20200101000000Z -out expired-client.crt >>"$log" 2>&1
fi

chmod 0644 ./*.crt
echo "certificates written to $(pwd)"
