import { gobString, type GobValue } from '../gob/gob-types';
import { callNetRpc, pingNetRpc } from '../rpc/net-rpc.client';
import { PLUGIN_METADATA, type PluginMetadata } from './cf-plugin.types';

/**
 * The cf CLI as a plugin sees it: `CliRpcCmd` over net/rpc on 127.0.0.1:<port>, one connection per call. Only
 * the calls this plugin needs; GetApp & co. go through the deprecated CC v2 API and are not used.
 */
export class CfCliConnection {
  constructor(private readonly port: number) {}

  /** Waits until the cf CLI's RPC server accepts connections (the shim's ping). */
  ping(): Promise<void> {
    return pingNetRpc({ port: this.port });
  }

  async setPluginMetadata(metadata: PluginMetadata): Promise<boolean> {
    return asBool(
      await callNetRpc(
        { port: this.port },
        'CliRpcCmd.SetPluginMetadata',
        PLUGIN_METADATA,
        metadata as unknown as GobValue,
      ),
    );
  }

  async isLoggedIn(): Promise<boolean> {
    return asBool(await this.stringCall('IsLoggedIn'));
  }

  async isSslDisabled(): Promise<boolean> {
    return asBool(await this.stringCall('IsSSLDisabled'));
  }

  async apiEndpoint(): Promise<string> {
    return asString(await this.stringCall('ApiEndpoint'));
  }

  /** `bearer eyJ…`; the cf CLI refreshes it first when it expires within a minute. */
  async accessToken(): Promise<string> {
    return asString(await this.stringCall('AccessToken'));
  }

  /** The targeted space; guid '' when none is targeted. */
  async currentSpace(): Promise<{ guid: string; name: string }> {
    const v = await this.stringCall('GetCurrentSpace');
    const fields = (isRecord(v) && isRecord(v.SpaceFields) ? v.SpaceFields : {}) as Record<
      string,
      GobValue | undefined
    >;
    return { guid: asString(fields.Guid ?? ''), name: asString(fields.Name ?? '') };
  }

  private stringCall(method: string): Promise<GobValue> {
    return callNetRpc({ port: this.port }, `CliRpcCmd.${method}`, gobString, '');
  }
}

function isRecord(v: unknown): v is Record<string, GobValue | undefined> {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Map)
  );
}

function asBool(v: GobValue): boolean {
  if (typeof v !== 'boolean') throw new Error(`the cf CLI answered ${typeof v} where a bool was expected`);
  return v;
}

function asString(v: GobValue | undefined): string {
  if (typeof v !== 'string') throw new Error(`the cf CLI answered ${typeof v} where a string was expected`);
  return v;
}
