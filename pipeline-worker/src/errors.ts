/**
 * The worker's errors as other packages see them (`@dao-ai/pipeline-worker/errors`): the error
 * classes the CLIs and the UI's server throw and recognise, and the catalogue of stable codes the
 * HTTP API answers with. Importing these from `pipeline-worker/src/internal/...` is not allowed
 * outside the package (issue 18): this file is the one door.
 */
export { BaseError, type BaseErrorParameters } from "./internal/BaseError.ts";
export { WorkerError, isWorkerError, type WorkerErrorParameters } from "./internal/WorkerError.ts";
export { errorCodes, isErrorCode, type ErrorCode, type ErrorCodeEntry } from "./internal/errorCodes.ts";
