import { Injectable, Logger } from '@nestjs/common';

/** One structured audit event per capture start and end (DESIGN.md: audit). Never carries a token. */
export interface CaptureAuditEvent {
  readonly event: 'capture.start' | 'capture.end' | 'capture.refused' | 'capture.download';
  readonly request_id: string;
  readonly capture_id?: string;
  readonly user: string;
  readonly user_id: string;
  readonly org?: string;
  readonly space?: string;
  readonly app?: string;
  readonly app_guid?: string;
  readonly process_type?: string;
  readonly instances?: readonly number[];
  readonly device?: string;
  readonly filter?: string;
  readonly format?: string;
  readonly outcome?: string;
  readonly packets?: number;
  readonly bytes?: number;
  readonly discarded?: number;
  readonly duration_ms?: number;
  readonly unavailable?: readonly number[];
  /** Storage sink of the capture, and the objects it stored (keys). */
  readonly sink?: string;
  readonly stored_objects?: readonly string[];
  /** capture.download: the object read. */
  readonly object?: string;
}

/** Writes audit events as one log line each (JSON in production), under the `CaptureAudit` context. */
@Injectable()
export class CaptureAuditLog {
  private readonly logger = new Logger('CaptureAudit');

  record(event: CaptureAuditEvent): void {
    this.logger.log(event);
  }
}
