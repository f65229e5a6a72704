/** Version of `cf pcap` / `pcap` (also the plugin's metadata version). */
export const CLI_VERSION = { major: 0, minor: 1, build: 0 } as const;

export const CLI_VERSION_TEXT = `${CLI_VERSION.major}.${CLI_VERSION.minor}.${CLI_VERSION.build}`;
