/**
 * What the local stack's scripts (`npm start`, scripts/lib/stack/) share with the worker, as other
 * packages see it (`@dao-ai/pipeline-worker/local-stack`): the local chain's id, which the worker's
 * configuration treats specially, and the owner-only secret files the worker reads its keys from.
 */
export { LOCAL_CHAIN_ID } from "./internal/configSchema.ts";
export { readSecretFile } from "./internal/readSecretFile.ts";
export { writeSecretFileSync } from "./internal/writeSecretFile.ts";
