import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { Hex } from "viem";
import { requireOctetStream } from "../api/requireOctetStream.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { MAX_RUN_SPEC_BYTES } from "../training/runSpec.ts";
import type { Keyholder } from "./createKeyholder.ts";
import { modelKeyReleaseSchema, modelKeyRequestSchema, type ModelKeyRequest } from "./modelKeyRequest.ts";
import {
  parseSpecUploadAuthorization,
  shareReleaseSchema,
  shareRequestSchema,
  type ShareRequest,
} from "./shareRequest.ts";

export type RegisterKeyholderRoutesParameters = {
  keyholder: Keyholder;
  chainId: number;
  policyRegistry: string;
  /**
   * Requests one peer (IP address) may make per minute, per route; more are answered 429
   * RATE_LIMITED before anything is read or checked. Leave out for no limit (the server sets one).
   */
  rateLimit?: KeyholderRateLimit | undefined;
};

export type KeyholderRateLimit = {
  /**
   * `POST /v1/shares` and `POST /v1/model-keys` (each counted on its own): a training run asks once
   * per submission, so this is the generous one.
   */
  sharesPerMinute: number;
  /** `PUT /v1/runs/:runId/spec`: an operator sends a run's spec once per run and keyholder. */
  specsPerMinute: number;
};

const runParams = {
  type: "object",
  required: ["runId"],
  properties: { runId: { type: "string", pattern: "^0x[0-9a-fA-F]{64}$" } },
} as const;

/**
 * The keyholder's HTTP API:
 * - `GET /v1/keyholder`: its public key and the chain and registry it enforces.
 * - `PUT /v1/runs/:runId/spec`: a run's spec document, as raw bytes, from the run's operator only
 *   (`Authorization: RunOperator issuedAt=... signature=...`); kept only if its SHA-256 is the
 *   approved specHash.
 * - `POST /v1/shares`: a signed share request; answers the share re-wrapped to the request's
 *   ephemeral key, or a problem+json refusal with a stable code.
 * - `POST /v1/model-keys`: a serving worker's signed request for its share of a committed model's
 *   weights key; answered the same way (same per-peer limit as `/v1/shares`).
 */
export function registerKeyholderRoutes(app: FastifyInstance, parameters: RegisterKeyholderRoutesParameters): void {
  const { keyholder } = parameters;

  app.get("/v1/keyholder", async () => ({
    publicKey: keyholder.publicKey,
    chainId: parameters.chainId,
    policyRegistry: parameters.policyRegistry,
  }));

  const limit = (perMinute: number | undefined) =>
    perMinute === undefined ? {} : { config: { rateLimit: { max: perMinute, timeWindow: 60_000 } } };

  // The spec travels as its exact bytes (application/octet-stream): their SHA-256 is what was voted on.
  // Only the run's operator may send it, and that is checked before a byte of the body is read:
  // otherwise anyone could make the keyholder buffer up to MAX_RUN_SPEC_BYTES and read the chain.
  app.put<{ Params: { runId: Hex }; Body: Readable }>(
    "/v1/runs/:runId/spec",
    {
      bodyLimit: Number.MAX_SAFE_INTEGER,
      onRequest: requireOctetStream,
      schema: { params: runParams },
      ...limit(parameters.rateLimit?.specsPerMinute),
    },
    async (request) => {
      await keyholder.authoriseSpecUpload(
        request.params.runId.toLowerCase() as Hex,
        parseSpecUploadAuthorization(request.headers.authorization),
      );
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of request.body as AsyncIterable<Buffer>) {
        size += chunk.byteLength;
        if (size > MAX_RUN_SPEC_BYTES) {
          throw new WorkerError("PAYLOAD_TOO_LARGE", `A run spec is at most ${MAX_RUN_SPEC_BYTES} bytes.`);
        }
        chunks.push(chunk);
      }
      return keyholder.putSpec(request.params.runId.toLowerCase() as Hex, new Uint8Array(Buffer.concat(chunks)));
    },
  );

  app.post<{ Body: ShareRequest }>(
    "/v1/shares",
    {
      schema: { body: shareRequestSchema, response: { 200: shareReleaseSchema } },
      ...limit(parameters.rateLimit?.sharesPerMinute),
    },
    async (request) => keyholder.releaseShare({ ...request.body, runId: request.body.runId.toLowerCase() as Hex }),
  );

  app.post<{ Body: ModelKeyRequest }>(
    "/v1/model-keys",
    {
      schema: { body: modelKeyRequestSchema, response: { 200: modelKeyReleaseSchema } },
      ...limit(parameters.rateLimit?.sharesPerMinute),
    },
    async (request) => keyholder.releaseModelKey({ ...request.body, runId: request.body.runId.toLowerCase() as Hex }),
  );
}
