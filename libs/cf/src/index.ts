/**
 * @pcap/cf — clients for UAA, Cloud Controller v3 and the BOSH director, UAA token validation, capture
 * authorisation and target resolution. No NestJS, nothing internal imported.
 */
export {
  CfError,
  type CfErrorCode,
  CfAuthError,
  type CfAuthReason,
  CfForbiddenError,
  CfNotFoundError,
  CfUnavailableError,
} from './errors/cf.error';
export { type HttpEndpointOptions } from './http/json-http.client';

export { SecretToken } from './uaa/secret-token';
export { parseBearerHeader } from './uaa/bearer-token.util';
export { CF_SCOPES, type UaaPrincipal } from './uaa/uaa-principal.model';
export { UaaClient, type UaaTokenGrant, type UaaVerificationKey } from './uaa/uaa.client';
export { UaaKeyStore, type UaaKeyStoreOptions } from './uaa/uaa-key.store';
export {
  UaaTokenValidator,
  type UaaTokenValidatorOptions,
  type UaaTokenPolicy,
  CF_TOKEN_POLICY,
  BOSH_TOKEN_POLICY,
} from './uaa/uaa-token.validator';
export {
  UaaClientCredentialsProvider,
  type UaaClientCredentialsOptions,
} from './uaa/uaa-client-credentials.provider';

export { CloudControllerClient } from './cc/cloud-controller.client';
export {
  type CcRequestContext,
  type CcRootInfo,
  type CcApp,
  type CcAppPermissions,
  type CcSshEnabled,
  type CcProcess,
  type CcProcessInstance,
  type CcInstanceState,
  CC_INSTANCE_STATES,
  type CcSpace,
  type CcOrganization,
  type CcRole,
  type CcRoleQuery,
} from './cc/cloud-controller.models';
export {
  CaptureAuthorizer,
  type CapturePolicy,
  type CaptureAuthorizationRequest,
  DEFAULT_CAPTURE_POLICY,
} from './cc/capture.authorizer';
export {
  CaptureTargetResolver,
  type CaptureTargets,
  type CaptureInstanceTarget,
  type ResolveTargetsRequest,
} from './cc/capture-target.resolver';

export { BoshDirectorClient, selectBoshTargets } from './bosh/bosh-director.client';
export {
  type BoshDirectorInfo,
  type BoshInstance,
  type BoshTarget,
  type BoshTargetSelection,
} from './bosh/bosh-director.models';
