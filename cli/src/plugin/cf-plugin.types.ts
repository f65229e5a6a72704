/**
 * The cf CLI's plugin types (code.cloudfoundry.org/cli/plugin and plugin/models) as gob descriptors, with the
 * cf CLI's type and field names (gob matches fields by name; the names below are also what Go writes).
 */
import { gobInt, gobMap, gobSlice, gobString, gobStruct } from '../gob/gob-types';

export const VERSION_TYPE = gobStruct('VersionType', { Major: gobInt, Minor: gobInt, Build: gobInt });
export const USAGE = gobStruct('Usage', {
  Usage: gobString,
  Options: gobMap(gobString, gobString, 'map[string]string'),
});
export const COMMAND = gobStruct('Command', {
  Name: gobString,
  Alias: gobString,
  HelpText: gobString,
  UsageDetails: USAGE,
});
export const PLUGIN_METADATA = gobStruct('PluginMetadata', {
  Name: gobString,
  Version: VERSION_TYPE,
  LibraryVersion: VERSION_TYPE,
  MinCliVersion: VERSION_TYPE,
  Commands: gobSlice(COMMAND, '[]plugin.Command'),
});

export interface VersionType {
  readonly Major: number;
  readonly Minor: number;
  readonly Build: number;
}

export interface PluginCommand {
  readonly Name: string;
  readonly Alias: string;
  readonly HelpText: string;
  readonly UsageDetails: { readonly Usage: string; readonly Options: Readonly<Record<string, string>> };
}

export interface PluginMetadata {
  readonly Name: string;
  readonly Version: VersionType;
  readonly LibraryVersion: VersionType;
  readonly MinCliVersion: VersionType;
  readonly Commands: readonly PluginCommand[];
}
