export {
  rejectUpgrade,
  startEdge,
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
