import { InvalidCaptureOptionError } from '../errors';
import {
  deviceNameProblem,
  filterTextProblem,
  immediateBufferSize,
  namedNetns,
  netnsOfPid,
  resolveCaptureOptions,
} from './capture-options';

describe('capture options', () => {
  it('applies defaults', () => {
    expect(resolveCaptureOptions({ device: 'eth0' })).toEqual({
      device: 'eth0',
      netns: undefined,
      filter: '',
      snaplen: 65535,
      bufferSize: 0,
      promiscuous: false,
      immediate: false,
      timeoutMs: 50,
      maxBatchBytes: 1 << 20,
      highWaterMark: 16,
      batchPool: 0,
    });
  });

  it.each([
    [{ device: '' }, 'device must not be empty'],
    [{ device: 'a'.repeat(16) }, 'device must be at most 15 characters, got 16'],
    [{ device: 'eth0/x' }, "device 'eth0/x' must not contain '/', ':', whitespace or NUL"],
    [{ device: 'eth0:1' }, "must not contain '/', ':'"],
    [{ device: 'eth 0' }, 'whitespace'],
    [{ device: 'eth\u00000' }, 'NUL'],
    [{ device: '..' }, "device must not be '..'"],
    [{ device: 'lo', snaplen: 0 }, 'snaplen must be an integer from 1 to 262144, got 0'],
    [{ device: 'lo', snaplen: 262145 }, 'snaplen must be an integer from 1 to 262144, got 262145'],
    [{ device: 'lo', snaplen: 1.5 }, 'snaplen must be an integer'],
    [{ device: 'lo', filter: 'x'.repeat(5001) }, 'filter must be at most 5000 characters, got 5001'],
    [{ device: 'lo', filter: 'port 80\n' }, 'filter must contain printable ASCII characters only'],
    [{ device: 'lo', netns: 'proc/1/ns/net' }, 'netns must be an absolute path'],
    [{ device: 'lo', timeoutMs: 0 }, 'timeoutMs must be an integer from 1 to 10000'],
    [{ device: 'lo', bufferSize: -1 }, 'bufferSize must be an integer'],
    [{ device: 'lo', highWaterMark: 0 }, 'highWaterMark must be an integer from 1 to 4096'],
    [{ device: 'lo', batchPool: 65 }, 'batchPool must be an integer from 0 to 64, got 65'],
    [{ device: 'lo', onBatch: 'write' as unknown as () => void }, 'onBatch must be a function'],
  ])('refuses %j with a specific message', (options, message) => {
    expect(() => resolveCaptureOptions(options)).toThrow(InvalidCaptureOptionError);
    expect(() => resolveCaptureOptions(options)).toThrow(message);
  });

  it('lists every problem at once', () => {
    expect(() => resolveCaptureOptions({ device: '', snaplen: 0, timeoutMs: 0 })).toThrow(
      /device must not be empty; snaplen .*; timeoutMs/,
    );
  });

  it('accepts the edge values', () => {
    expect(deviceNameProblem('a'.repeat(15))).toBeUndefined();
    expect(filterTextProblem('x'.repeat(5000))).toBeUndefined();
    expect(resolveCaptureOptions({ device: 'lo', snaplen: 1 }).snaplen).toBe(1);
    expect(resolveCaptureOptions({ device: 'lo', snaplen: 262144 }).snaplen).toBe(262144);
  });

  it('sizes the immediate-mode ring from snaplen when no buffer size is given', () => {
    expect(immediateBufferSize(96)).toBe(2 << 20);
    expect(immediateBufferSize(65535)).toBe(64 << 20);
    expect(immediateBufferSize(1500)).toBe(Math.ceil((1500 + 96) / 16) * 16 * 2048);
    expect(resolveCaptureOptions({ device: 'lo', immediate: true, snaplen: 1500 }).bufferSize).toBe(
      immediateBufferSize(1500),
    );
    expect(resolveCaptureOptions({ device: 'lo', immediate: true, bufferSize: 4096 }).bufferSize).toBe(4096);
  });

  it('builds namespace paths and refuses unsafe ones', () => {
    expect(netnsOfPid(1234)).toBe('/proc/1234/ns/net');
    expect(() => netnsOfPid(-1)).toThrow(InvalidCaptureOptionError);
    expect(namedNetns('cell-1')).toBe('/run/netns/cell-1');
    expect(() => namedNetns('../etc')).toThrow(InvalidCaptureOptionError);
  });
});
