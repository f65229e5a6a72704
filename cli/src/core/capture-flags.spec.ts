import {
  CAPTURE_FLAGS,
  captureOptionsOf,
  parseDuration,
  parseFlags,
  parseSize,
  pcapApiUrlOf,
} from './capture-flags';
import { CliError } from './cli.errors';

function options(...args: string[]) {
  return captureOptionsOf(parseFlags(args, CAPTURE_FLAGS).flags);
}

describe('capture flags', () => {
  it('the pcap API URL is the CF API URL with api. replaced by pcap. (the original plugin rule)', () => {
    expect(pcapApiUrlOf('https://api.sys.example.com')).toBe('https://pcap.sys.example.com');
    expect(pcapApiUrlOf('https://api.sys.example.com:8443/')).toBe('https://pcap.sys.example.com:8443');
    expect(pcapApiUrlOf('https://cf.example.com')).toBe('https://cf.example.com');
  });

  it('reads short, long and --x=v forms; the seed flags keep their short letters', () => {
    const { positionals, flags } = parseFlags(
      [
        'app',
        '-o',
        'f.pcapng',
        '--filter=tcp port 80',
        '-i',
        '0,2,2',
        '-t',
        'worker',
        '-d',
        'lo',
        '-k',
        '-q',
        '--force',
      ],
      CAPTURE_FLAGS,
    );
    expect(positionals).toEqual(['app']);
    const o = captureOptionsOf(flags);
    expect(o).toMatchObject({
      output: 'f.pcapng',
      filter: 'tcp port 80',
      instances: [0, 2],
      processType: 'worker',
      device: 'lo',
      insecure: true,
      quiet: true,
      force: true,
      format: 'pcapng',
    });
    expect(options('-o', '-').output).toBe('-');
    expect(options('-i', 'all').instances).toBe('all');
  });

  it('durations and sizes', () => {
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('5m')).toBe(300);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseSize('1000')).toBe(1000);
    expect(parseSize('64K')).toBe(65536);
    expect(parseSize('10MiB')).toBe(10 * 1024 * 1024);
    expect(parseSize('1G')).toBe(1024 ** 3);
    expect(parseSize('1T')).toBeUndefined();
    expect(
      options('--duration', '2m', '--max-bytes', '1M', '--max-packets', '10', '-s', '128'),
    ).toMatchObject({
      durationSeconds: 120,
      maxBytes: 1048576,
      maxPackets: 10,
      snaplen: 128,
    });
  });

  it('lists every bad value at once, as a usage error (exit 2)', () => {
    let error: unknown;
    try {
      options('-i', '1,x', '--duration', 'soon', '--format', 'json', '--api', 'ftp://x');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    const text = (error as CliError).message;
    for (const part of ['--instance', '--duration', '--format', '--api']) expect(text).toContain(part);
    expect(() => parseFlags(['-o'], CAPTURE_FLAGS)).toThrow("flag '-o' needs a value");
    expect(() => parseFlags(['--force=yes'], CAPTURE_FLAGS)).toThrow('takes no value');
    expect(() => parseFlags(['-o', 'a', '-o', 'b'], CAPTURE_FLAGS)).toThrow('given twice');
  });
});
