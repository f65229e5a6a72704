import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of a running process in µs, summed over its threads: the on-CPU nanoseconds the kernel keeps in
 * /proc/<pid>/task/<tid>/schedstat (the tick-based utime and stime of /proc/<pid>/stat move in 10 ms steps, as much
 * as a tenth of a short capture run). Threads that have already exited are not counted.
 */
export function cpuUsOf(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return ns / 1000;
}
