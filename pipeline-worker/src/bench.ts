/**
 * The worker's parts that the benchmarks (`npm run bench`, scripts/bench/) measure one by one, as
 * other packages see them (`@dao-ai/pipeline-worker/bench`). They are internals, not an API: a
 * bench that needs another part adds it here rather than importing `src/...` from outside.
 */
export { createApiServer } from "./api/createApiServer.ts";
export { ERROR_DOCS_PATH } from "./api/routes/registerHealthRoutes.ts";
export { registerSubmissionRoutes } from "./api/routes/registerSubmissionRoutes.ts";
export {
  createDigestSigner,
  ethMessageDigest,
  nativeSecp256k1,
  recoverDigestSigner,
  recoverTypedDataSigner,
  secp256k1,
  wasmSecp256k1,
} from "./chain/signatures.ts";
export { encryptStream } from "./crypto/encryptStream.ts";
export { generateDataKey } from "./crypto/generateDataKey.ts";
export { createUsageStore } from "./inference/createUsageStore.ts";
export { createSubmissionService, submissionId } from "./ingest/createSubmissionService.ts";
export { issueUploadToken } from "./ingest/uploadToken.ts";
export { createMetrics } from "./internal/createMetrics.ts";
export { loadConfig, type WorkerConfig } from "./internal/loadConfig.ts";
export type { Model } from "./model/Model.ts";
export { createGenesisPolicy, isSubmitter, type Policy } from "./policy/Policy.ts";
export { createPolicySync, type PolicyView } from "./policy/createPolicySync.ts";
export { readPolicyDeployment } from "./policy/readPolicyDeployment.ts";
export { createHeliaContentStore } from "./storage/createHeliaContentStore.ts";
export { createJournal } from "./storage/createJournal.ts";
export { heliaImportOptions } from "./storage/unixfsImportOptions.ts";
