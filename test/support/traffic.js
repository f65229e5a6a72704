#!/usr/bin/env node
// Bounded test traffic, run inside a test namespace:
//   traffic.js udp <ip> <port> <count> <size> <gapUs>   send exactly <count> datagrams, then exit
//   traffic.js tcp-sink <ip> <port>                     accept connections, discard data (until killed)
//   traffic.js tcp-send <ip> <port> <bytes>              send <bytes> on one connection, then close
'use strict';
const dgram = require('node:dgram');
const net = require('node:net');

const [mode, host, portText, ...rest] = process.argv.slice(2);
const port = Number(portText);

function busyWait(us) {
  const end = process.hrtime.bigint() + BigInt(us) * 1000n;
  while (process.hrtime.bigint() < end);
}

if (mode === 'udp') {
  const [countText, sizeText, gapText] = rest;
  const count = Number(countText);
  const payload = Buffer.alloc(Number(sizeText), 0x61);
  const gap = Number(gapText);
  const sock = dgram.createSocket('udp4');
  let sent = 0;
  const sendNext = () => {
    if (sent === count) {
      sock.close();
      return;
    }
    payload.writeUInt32BE(sent, 0);
    sent++;
    sock.send(payload, port, host, (err) => {
      if (err) {
        console.error(err.message);
        process.exit(1);
      }
      if (gap > 0) busyWait(gap);
      sendNext();
    });
  };
  sendNext();
  setTimeout(() => {
    console.error(`udp: sent only ${sent}/${count} in 60 s`);
    process.exit(1);
  }, 60000).unref();
} else if (mode === 'tcp-sink') {
  const server = net.createServer((c) => {
    c.on('data', () => {});
    c.on('error', () => {});
  });
  server.listen(port, host, () => console.log('listening'));
} else if (mode === 'tcp-send') {
  const bytes = Number(rest[0]);
  const c = net.connect(port, host, () => {
    c.end(Buffer.alloc(bytes, 0x62));
  });
  c.on('close', () => process.exit(0));
  c.on('error', (err) => {
    console.error(err.message);
    process.exit(1);
  });
  setTimeout(() => process.exit(2), 30000).unref();
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
