import { InvalidCaptureOptionError, InvalidFilterError } from '@pcap/capture';

import { AgentConfig } from '../config/agent-config';
import { parseCaptureRequest, withExclusion } from './capture-request';

const APP = '19a000d9-0d55-4573-bdd9-2531260ae91e';
const config = AgentConfig.fromObject({
  tls: { certificate: 'c', private_key: 'k', client_ca: 'ca' },
  capture: { default_device: 'eth0', snaplen_max: 65535, max_duration_seconds: 600 },
});

describe('parseCaptureRequest', () => {
  it('applies the defaults of the config', () => {
    expect(
      parseCaptureRequest(
        { target: { app_guid: APP, instance_guid: '092a6919-484d-48d8-66b7-f809' } },
        config,
      ),
    ).toEqual({
      target: {
        kind: 'instance',
        appGuid: APP,
        instanceGuid: '092a6919-484d-48d8-66b7-f809',
        instanceIp: undefined,
      },
      device: 'eth0',
      filter: '',
      snaplen: 65535,
      bufferSize: 0,
      durationSeconds: 600,
      maxPackets: undefined,
      maxBytes: undefined,
      origin: {},
    });
  });

  it('accepts a host target', () => {
    const r = parseCaptureRequest(
      { target: { host: true }, device: 'lo', filter: 'tcp port 80', snaplen: 128 },
      config,
    );
    expect(r).toMatchObject({ target: { kind: 'host' }, device: 'lo', filter: 'tcp port 80', snaplen: 128 });
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      parseCaptureRequest(
        { target: { app_guid: APP, instance_ip: 'x' }, device: 'a:b', snaplen: 65536, max_packets: 0 },
        config,
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidCaptureOptionError);
    expect((error as Error).message).toBe(
      [
        "target.instance_ip 'x' is not an IPv4 address",
        "device 'a:b' must not contain '/', ':', whitespace or NUL",
        'snaplen must be an integer from 1 to 65535, got 65536',
        'max_packets must be an integer from 1 to 9007199254740991, got 0',
      ].join('; '),
    );
  });

  it('refuses a target that is both host and app', () => {
    expect(() => parseCaptureRequest({ target: { host: true, app_guid: APP } }, config)).toThrow(
      /either an app instance .* or host/,
    );
  });

  it("reports libpcap's text for a filter that does not compile", () => {
    expect(() =>
      parseCaptureRequest({ target: { host: true }, filter: 'host 1.2.3.4 and and' }, config),
    ).toThrow(InvalidFilterError);
  });
});

describe('withExclusion', () => {
  it("prepends the agent's own connection to the user's filter", () => {
    expect(withExclusion('udp', { address: '::ffff:10.0.1.5', localPort: 9494 })).toBe(
      'not (host 10.0.1.5 and tcp port 9494) and (udp)',
    );
    expect(withExclusion('', { address: '10.0.1.5', localPort: 9494 })).toBe(
      'not (host 10.0.1.5 and tcp port 9494)',
    );
    expect(withExclusion('udp', undefined)).toBe('udp');
  });
});
