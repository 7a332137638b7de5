import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { Address } from "viem";
import type { SubmissionService } from "../../ingest/createSubmissionService.ts";
import { bearerToken } from "../../ingest/uploadToken.ts";
import { isWorkerError, WorkerError } from "../../internal/WorkerError.ts";
import { jsonSchemaOf } from "../jsonSchemaOf.ts";
import { parseWire } from "../parseWire.ts";
import { requireOctetStream } from "../requireOctetStream.ts";
import {
  begunSubmissionSchema,
  submissionEnvelopeSchema,
  submissionListSchema,
  submissionStatusSchema,
} from "../submissionWire.ts";
import { addressSchema, bytes32Schema } from "../wireScalars.ts";

export type RegisterSubmissionRoutesParameters = {
  submissions: SubmissionService;
  /** Called after data is stored, to record it on chain soon (batched). */
  onStored: () => void;
};

const idParams = { type: "object", required: ["id"], properties: { id: jsonSchemaOf(bytes32Schema) } };
const statusSchema = jsonSchemaOf(submissionStatusSchema);

/**
 * Submissions in two steps: `POST /v1/submissions` with the signed envelope (every check that
 * needs no data runs here, so a refused submission never uploads a byte), then
 * `PUT /v1/submissions/:id/data` with the data as a raw octet stream, read from the socket as it
 * arrives and never buffered whole. The POST's `201` carries the submission's upload token, the
 * only place it is ever shown; the PUT must send it back as `Authorization: Bearer <token>`.
 */
export function registerSubmissionRoutes(app: FastifyInstance, parameters: RegisterSubmissionRoutesParameters): void {
  const { submissions } = parameters;

  app.post<{ Body: unknown }>(
    "/v1/submissions",
    {
      schema: {
        body: jsonSchemaOf(submissionEnvelopeSchema),
        response: { 201: jsonSchemaOf(begunSubmissionSchema) },
      },
    },
    async (request, reply) => {
      const status = await submissions.begin(parseWire(submissionEnvelopeSchema, request.body));
      void reply.status(201).header("location", `/v1/submissions/${status.id}`);
      return status;
    },
  );

  app.put<{ Params: { id: string }; Body: Readable }>(
    "/v1/submissions/:id/data",
    {
      // The service bounds the stream by the signed size; Fastify's own limit must not cut it first.
      bodyLimit: Number.MAX_SAFE_INTEGER,
      onRequest: requireOctetStream,
      schema: { params: idParams, response: { 202: statusSchema } },
    },
    async (request, reply) => {
      // The body is the socket's byte stream, refused with REQUEST_TIMEOUT if it stops arriving.
      // Every refusal that needs none of it comes before a byte of it is read.
      // A connection that closes mid-body does not always fail the body's stream (a client that
      // half-closes is answered by the HTTP parser, and the body then just waits): the upload is
      // aborted on the socket's close, so that it does not hold its submission until the idle timeout.
      const gone = new AbortController();
      const socket = request.raw.socket;
      const onClose = () =>
        gone.abort(new WorkerError("REQUEST_TIMEOUT", "The connection closed before the upload ended."));
      socket.once("close", onClose);
      try {
        const status = await submissions.upload(request.params.id.toLowerCase(), request.body, {
          uploadToken: bearerToken(request.headers.authorization),
          signal: gone.signal,
        });
        parameters.onStored();
        void reply.status(202);
        return status;
      } catch (error) {
        if (isWorkerError(error, "UPLOADS_BUSY") && typeof error.extra.retryAfterSeconds === "number") {
          void reply.header("retry-after", String(error.extra.retryAfterSeconds));
        }
        throw error;
      } finally {
        socket.off("close", onClose);
      }
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/submissions/:id",
    { schema: { params: idParams, response: { 200: statusSchema } } },
    async (request) => submissions.get(request.params.id.toLowerCase()),
  );

  app.get<{ Querystring: { contributor: Address } }>(
    "/v1/submissions",
    {
      schema: {
        querystring: {
          type: "object",
          required: ["contributor"],
          properties: { contributor: jsonSchemaOf(addressSchema) },
        },
        response: { 200: jsonSchemaOf(submissionListSchema) },
      },
    },
    async (request) => ({ submissions: await submissions.listByContributor(request.query.contributor) }),
  );
}
