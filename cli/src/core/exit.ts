/** Exits once stdout and stderr have flushed (pipes are asynchronous on macOS; capture bytes must not be cut). */
export function exitAfterFlush(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
