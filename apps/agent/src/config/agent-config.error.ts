/** The configuration file is unreadable or invalid; `problems` lists every bad key. Fatal at boot. */
export class AgentConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`invalid agent configuration ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
    this.name = new.target.name;
  }
}
