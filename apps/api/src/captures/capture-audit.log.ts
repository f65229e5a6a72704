import { Injectable, Logger } from '@nestjs/common';

/** One structured audit event per capture start and end (DESIGN.md: audit). Never carries a token. */
export interface CaptureAuditEvent {
  readonly event: 'capture.start' | 'capture.end' | 'capture.refused';
  readonly request_id: string;
  readonly capture_id?: string;
  readonly user: string;
  readonly user_id: string;
  readonly org?: string;
  readonly space?: string;
  readonly app?: string;
  readonly app_guid?: string;
  readonly process_type?: string;
  /** BOSH mode: the deployment and instance groups. */
  readonly deployment?: string;
  readonly instance_groups?: readonly string[];
  /** Instance indexes (CF) or `group/id` (BOSH). */
  readonly instances?: readonly (number | string)[];
  readonly device?: string;
  readonly filter?: string;
  readonly format?: string;
  readonly outcome?: string;
  readonly packets?: number;
  readonly bytes?: number;
  readonly discarded?: number;
  readonly duration_ms?: number;
  readonly unavailable?: readonly (number | string)[];
}

/** Writes audit events as one log line each (JSON in production), under the `CaptureAudit` context. */
@Injectable()
export class CaptureAuditLog {
  private readonly logger = new Logger('CaptureAudit');

  record(event: CaptureAuditEvent): void {
    this.logger.log(event);
  }
}
