import type { IncomingHttpHeaders } from "node:http";
import type { Hex } from "viem";
import type { SignedQuery } from "../inference/createQueryService.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { QUERY_HEADERS } from "./openAiWire.ts";

/**
 * Reads a query's credentials from a request to the OpenAI-compatible routes. It returns the
 * signed query, `undefined` when the request carries none of its kind (the next authenticator is
 * asked), or throws when they are there but malformed. Signed headers are one kind; API keys a
 * consumer authorised with its wallet will be another, behind the same type.
 */
export type QueryAuthenticator = (request: { headers: IncomingHttpHeaders; inputHash: Hex }) => SignedQuery | undefined;

const patterns = {
  consumer: /^0x[0-9a-fA-F]{40}$/,
  nonce: /^(0|[1-9][0-9]{0,19})$/,
  epoch: /^(0|[1-9][0-9]{0,19})$/,
  deadline: /^(0|[1-9][0-9]{0,15})$/,
  signature: /^0x[0-9a-fA-F]{130}$/,
} as const;

/** A Query signed as for `POST /v1/queries`, over chatInputHash of the body, in the `x-query-*` headers. */
export const signedQueryHeaders: QueryAuthenticator = ({ headers, inputHash }) => {
  const fields = Object.keys(QUERY_HEADERS) as (keyof typeof QUERY_HEADERS)[];
  const values = Object.fromEntries(fields.map((field) => [field, headers[QUERY_HEADERS[field]]]));
  if (fields.every((field) => values[field] === undefined)) return undefined;
  for (const field of fields) {
    const value = values[field];
    if (typeof value !== "string" || !patterns[field].test(value)) {
      throw new WorkerError(
        "VALIDATION_FAILED",
        value === undefined
          ? `The ${QUERY_HEADERS[field]} header is missing.`
          : `The ${QUERY_HEADERS[field]} header is malformed.`,
        {
          hints: [`Send all of ${Object.values(QUERY_HEADERS).join(", ")}, as signChatRequest makes them.`],
          extra: { field: QUERY_HEADERS[field] },
        },
      );
    }
  }
  const deadline = Number(values.deadline);
  if (!Number.isSafeInteger(deadline)) {
    throw new WorkerError("VALIDATION_FAILED", `The ${QUERY_HEADERS.deadline} header is too large.`, {
      extra: { field: QUERY_HEADERS.deadline },
    });
  }
  return {
    consumer: values.consumer as string,
    inputHash,
    nonce: values.nonce as string,
    epoch: values.epoch as string,
    deadline,
    signature: values.signature as Hex,
  };
};

/** The first authenticator's query, or AUTHENTICATION_REQUIRED. */
export function authenticateQuery(
  authenticators: readonly QueryAuthenticator[],
  request: { headers: IncomingHttpHeaders; inputHash: Hex },
): SignedQuery {
  for (const authenticate of authenticators) {
    const query = authenticate(request);
    if (query !== undefined) return query;
  }
  const bearer = /^bearer\s/i.test(request.headers.authorization ?? "");
  throw new WorkerError(
    "AUTHENTICATION_REQUIRED",
    bearer ? "This worker does not accept API keys yet: sign the request." : "The request carries no signed query.",
    {
      hints: [
        `Sign the request (chatInputHash of the body) and send ${Object.values(QUERY_HEADERS).join(", ")}; the worker's README shows how with the openai client.`,
      ],
    },
  );
}
