import type { IncomingHttpHeaders } from "node:http";
import type { Hex } from "viem";
import { z } from "zod";
import type { QueryCredential } from "../inference/createQueryService.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { signedUsageFields } from "./consumerWire.ts";
import { QUERY_HEADERS } from "./openAiWire.ts";

/**
 * Reads a query's credential from a request: a signed Usage voucher (in the body of `POST
 * /v1/queries`, or in the `x-query-*` headers of the OpenAI-compatible routes), or an API key
 * (the keys module's bearer authenticator). It returns the credential, `undefined` when the
 * request carries none of its kind (the next authenticator is asked), or throws when one is there
 * but malformed. The route gives the hash of what is asked; the credential binds it.
 */
export type QueryAuthenticator = (request: {
  headers: IncomingHttpHeaders;
  /** The JSON body of `POST /v1/queries` (already checked against its schema); absent on the OpenAI routes. */
  body?: Record<string, unknown> | undefined;
  inputHash: Hex;
}) => QueryCredential | undefined;

type HeaderField = keyof typeof QUERY_HEADERS;
const headerFields = Object.keys(QUERY_HEADERS) as HeaderField[];
/** Headers are strings: the deadline is read as a decimal number first. */
const headerSchemas: Record<HeaderField, z.ZodType> = {
  ...signedUsageFields,
  deadline: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,15})$/)
    .transform(Number)
    .pipe(signedUsageFields.deadline),
};

/** A Usage voucher signed over chatInputHash of the body, in the `x-query-*` headers. */
export const signedQueryHeaders: QueryAuthenticator = ({ headers, inputHash }) => {
  const values = Object.fromEntries(headerFields.map((field) => [field, headers[QUERY_HEADERS[field]]]));
  if (headerFields.every((field) => values[field] === undefined)) return undefined;
  const parsed: Record<string, unknown> = {};
  for (const field of headerFields) {
    const value = values[field];
    if (field === "key" && value === undefined) continue;
    const result = typeof value === "string" ? headerSchemas[field].safeParse(value) : undefined;
    if (result === undefined || !result.success) {
      throw new WorkerError(
        "VALIDATION_FAILED",
        value === undefined
          ? `The ${QUERY_HEADERS[field]} header is missing.`
          : `The ${QUERY_HEADERS[field]} header is malformed.`,
        {
          hints: [
            `Send ${Object.values(QUERY_HEADERS)
              .filter((name) => name !== QUERY_HEADERS.key)
              .join(", ")} (and ${QUERY_HEADERS.key} for a session key), as signChatRequest makes them.`,
          ],
          extra: { field: QUERY_HEADERS[field] },
        },
      );
    }
    parsed[field] = result.data;
  }
  return credentialOf(parsed, inputHash);
};

/** The signed fields of `POST /v1/queries`' body (its schema has checked their form). */
export const signedQueryBody: QueryAuthenticator = ({ body, inputHash }) =>
  body?.signature === undefined ? undefined : credentialOf(body, inputHash);

function credentialOf(fields: Record<string, unknown>, inputHash: Hex): QueryCredential {
  return {
    consumer: fields.consumer as string,
    key: fields.key as string | undefined,
    inputHash,
    voucher: {
      epoch: fields.epoch as string,
      total: fields.total as string,
      maxFeePerQuery: fields.maxFeePerQuery as string,
      deadline: fields.deadline as number,
      signature: fields.signature as Hex,
    },
  };
}

/** The first authenticator's credential, or AUTHENTICATION_REQUIRED. */
export function authenticateQuery(
  authenticators: readonly QueryAuthenticator[],
  request: Parameters<QueryAuthenticator>[0],
): QueryCredential {
  for (const authenticate of authenticators) {
    const credential = authenticate(request);
    if (credential !== undefined) return credential;
  }
  throw new WorkerError("AUTHENTICATION_REQUIRED", "The request carries no signed Usage voucher and no API key.", {
    hints: [
      "Sign a Usage voucher (GET /v1/eip712) over the request (POST /v1/queries: keccak256 of the input; the OpenAI routes: chatInputHash of the body, in the x-query-* headers, as signChatRequest makes them), or send an API key: Authorization: Bearer dao_sk_...",
    ],
  });
}
