import { Injectable, Logger } from '@nestjs/common';

/** One structured audit event per schedule change and per run (DESIGN.md: audit). Never carries a token. */
export interface ScheduleAuditEvent {
  readonly event:
    | 'schedule.create'
    | 'schedule.pause'
    | 'schedule.resume'
    | 'schedule.delete'
    | 'schedule.run.start'
    | 'schedule.run.end';
  readonly schedule_id: string;
  /** Who did it; `scheduler` for runs and for pauses a run decided. */
  readonly user: string;
  readonly user_id: string;
  readonly request_id?: string;
  readonly app?: string;
  readonly app_guid?: string;
  readonly run_id?: string;
  readonly occurrence?: string;
  readonly outcome?: string;
  readonly reason?: string;
  readonly sink?: string;
  readonly timing?: string;
  readonly filter?: string;
  readonly instances?: readonly number[] | 'all';
  readonly objects?: readonly string[];
  readonly packets?: number | null;
  readonly drops?: number | null;
  readonly error?: string | null;
}

/** Writes schedule audit events as one log line each, under the `ScheduleAudit` context (like CaptureAudit). */
@Injectable()
export class ScheduleAuditLog {
  private readonly logger = new Logger('ScheduleAudit');

  record(event: ScheduleAuditEvent): void {
    this.logger.log(event);
  }
}
