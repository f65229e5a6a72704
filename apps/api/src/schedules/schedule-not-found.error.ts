import { CfNotFoundError } from '@pcap/cf';

/** No schedule with this id that the caller may see (404, like an app CC hides). */
export class ScheduleNotFoundError extends CfNotFoundError {
  constructor(id: string) {
    super(`Schedule '${id}' not found.`);
  }
}
