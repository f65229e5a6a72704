import { CaptureError } from '@pcap/capture';

/** No container on this cell matches the requested instance (guid or IP), or it is not running. */
export class ContainerNotFoundError extends CaptureError {
  readonly code = 'TARGET_NOT_FOUND';
}

/** The container exists but belongs to another app than the one requested: never captured. */
export class ContainerOwnershipError extends CaptureError {
  readonly code = 'FORBIDDEN';
}

/** The container store or runc could not be read; a fault of the cell, not of the request. */
export class CellStateError extends CaptureError {
  readonly code = 'CAPTURE_FAILED';
}
