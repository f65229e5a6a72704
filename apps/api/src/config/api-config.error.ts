/** The configuration file is unreadable or invalid; the message lists every problem, one per line. */
export class ApiConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`invalid configuration ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
    this.name = new.target.name;
  }
}
