import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  BoshDirectorClient,
  type BoshTarget,
  CfUnavailableError,
  type UaaPrincipal,
  UaaTokenValidator,
} from '@pcap/cf';

import { ApiConfig } from '../config/api-config';
import { API_TLS, type ApiTlsMaterial } from '../config/tls-material';

/**
 * BOSH mode's seam to the director and its UAA (`bosh` in the config). Tokens are validated against the
 * director's UAA (configured, or the one the director names in `GET /info`, asked once), with the configured
 * scopes and no audience; instances are listed with the user's own token, so the director decides what they may
 * see. Only constructed when BOSH mode is configured.
 */
@Injectable()
export class BoshAccess implements OnApplicationShutdown {
  private readonly director: BoshDirectorClient;
  private validator: Promise<UaaTokenValidator> | undefined;

  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    @Inject(API_TLS) private readonly tls: ApiTlsMaterial,
  ) {
    const bosh = this.settings();
    this.director = new BoshDirectorClient({
      url: bosh.director.url,
      ...(tls.boshDirectorCa === undefined ? {} : { ca: tls.boshDirectorCa }),
      skipTlsVerify: bosh.director.skip_tls_verify,
      timeoutMs: bosh.director.timeout_seconds * 1000,
    });
  }

  /** Validates `Authorization: bearer …` as a token of the director's UAA; CfAuthError / CfUnavailableError. */
  async authenticate(
    header: string | readonly string[] | undefined,
    requestId: string,
  ): Promise<UaaPrincipal> {
    const validator = await this.validatorFor(requestId);
    return validator.validateHeader(header);
  }

  /** The deployment's instances in `groups` (and `ids`, when given), listed with the user's token. */
  targets(
    principal: UaaPrincipal,
    deployment: string,
    groups: readonly string[],
    ids: readonly string[] | undefined,
    requestId: string,
  ): Promise<BoshTarget[]> {
    return this.director.resolveTargets(
      principal.rawToken,
      deployment,
      { groups, ...(ids === undefined ? {} : { ids }) },
      requestId,
    );
  }

  onApplicationShutdown(): void {
    this.director.close();
    void this.validator?.then(
      (v) => v.close(),
      () => undefined,
    );
  }

  private settings(): NonNullable<ApiConfig['bosh']> {
    const bosh = this.config.bosh;
    if (bosh === undefined) throw new Error('BoshAccess needs the bosh section of the configuration');
    return bosh;
  }

  private validatorFor(requestId: string): Promise<UaaTokenValidator> {
    this.validator ??= this.createValidator(requestId);
    // A failed discovery (director down) is retried by the next request.
    this.validator.catch(() => (this.validator = undefined));
    return this.validator;
  }

  private async createValidator(requestId: string): Promise<UaaTokenValidator> {
    const bosh = this.settings();
    const uaa = bosh.uaa;
    let url = uaa?.url;
    if (url === undefined) {
      url = (await this.director.info(requestId)).uaaUrl;
      if (url === undefined) {
        throw new CfUnavailableError(
          'BOSH director',
          `The BOSH director at ${this.director.url} names no UAA; set bosh.uaa.url.`,
        );
      }
    }
    const ca = uaa === undefined ? this.tls.boshDirectorCa : this.tls.boshUaaCa;
    return UaaTokenValidator.forBosh({
      uaa: {
        url,
        ...(ca === undefined ? {} : { ca }),
        skipTlsVerify: uaa?.skip_tls_verify ?? bosh.director.skip_tls_verify,
        timeoutMs: (uaa?.timeout_seconds ?? bosh.director.timeout_seconds) * 1000,
      },
      ...(uaa?.issuer === undefined ? {} : { issuer: uaa.issuer }),
      policy: { anyOfScopes: bosh.token_scopes },
      keyRefetchIntervalMs: this.config.uaa.key_refetch_interval_seconds * 1000,
    });
  }
}
