import { connect, type Socket } from 'node:net';

import { GobDecoder } from '../gob/gob.decoder';
import { GobEncoder } from '../gob/gob.encoder';
import { gobString, gobStruct, gobUint, type GobType, type GobValue } from '../gob/gob-types';

/** net/rpc's request header (`rpc.Request`). */
const REQUEST = gobStruct('Request', { ServiceMethod: gobString, Seq: gobUint });

/** The server answered the call with an error (`Response.Error`). */
export class RpcCallError extends Error {
  constructor(
    readonly method: string,
    message: string,
  ) {
    super(`${method}: ${message}`);
    this.name = 'RpcCallError';
  }
}

/** The RPC server could not be reached or the connection broke. */
export class RpcConnectionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RpcConnectionError';
  }
}

export interface NetRpcOptions {
  readonly host?: string;
  readonly port: number;
  /** Whole-call timeout; default 30 s. */
  readonly timeoutMs?: number;
}

/**
 * A Go `net/rpc` client with gob encoding, one TCP connection per call (as the cf CLI's plugin shim does): writes
 * `Request{ServiceMethod, Seq: 0}` and the argument, reads `Response{ServiceMethod, Seq, Error}` and the reply.
 */
export async function callNetRpc(
  options: NetRpcOptions,
  method: string,
  argType: GobType,
  arg: GobValue,
): Promise<GobValue> {
  const socket = await open(options);
  try {
    const encoder = new GobEncoder();
    const payload = Buffer.concat([
      encoder.encode(REQUEST, { ServiceMethod: method, Seq: 0 }),
      encoder.encode(argType, arg),
    ]);
    return await exchange(socket, payload, method, options.timeoutMs ?? 30000);
  } finally {
    socket.destroy();
  }
}

/** Connects, retrying like the cf plugin shim's ping: up to 5 tries 200 ms apart. */
export async function pingNetRpc(options: NetRpcOptions): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 5; i++) {
    try {
      (await open(options)).destroy();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new RpcConnectionError(`cannot reach the cf CLI on port ${options.port}`, { cause: last });
}

function open(options: NetRpcOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: options.host ?? '127.0.0.1', port: options.port });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) =>
      reject(
        new RpcConnectionError(`cannot reach the cf CLI on port ${options.port}: ${err.message}`, {
          cause: err,
        }),
      ),
    );
  });
}

function exchange(socket: Socket, payload: Buffer, method: string, timeoutMs: number): Promise<GobValue> {
  return new Promise((resolve, reject) => {
    const decoder = new GobDecoder();
    let header: Record<string, GobValue | undefined> | undefined;
    const timer = setTimeout(
      () => fail(new RpcConnectionError(`${method}: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      reject(err);
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
        for (let m = decoder.next(); m !== undefined; m = decoder.next()) {
          if (header === undefined) {
            header = m.value as Record<string, GobValue | undefined>;
            continue;
          }
          clearTimeout(timer);
          socket.removeAllListeners('data');
          const error = header.Error;
          if (typeof error === 'string' && error !== '') reject(new RpcCallError(method, error));
          else resolve(m.value);
          return;
        }
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.once('error', (err) => fail(new RpcConnectionError(`${method}: ${err.message}`, { cause: err })));
    socket.once('close', () => fail(new RpcConnectionError(`${method}: the cf CLI closed the connection`)));
    socket.write(payload);
  });
}
