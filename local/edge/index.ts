export {
  DEFAULT_EDGE_LIMITS,
  rejectUpgrade,
  startEdge,
  type EdgeLimits,
  type ServiceStatus,
  type Edge,
  type EdgeHandler,
  type EdgeOptions,
  type EdgeRequest,
  type EdgeResponse,
  type EdgeTarget,
  type ExchangeObserver,
  type UpgradeHandler,
} from './edge';
export { signingService, serviceOfCredential, targetService } from './routing';
export { AwsChunkedDecoder } from './s3-compat';
