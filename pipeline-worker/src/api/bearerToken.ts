import { createHash } from "node:crypto";
import { bytesToHex, type Address } from "viem";
import { publicKeyToAddress } from "viem/accounts";
import { secp256k1 } from "../chain/signatures.ts";
import type { KeyRegistry } from "../inference/createKeyRegistry.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import type { QueryAuthenticator } from "./authenticateQuery.ts";
import { BEARER_TOKEN_PATTERN, BEARER_TOKEN_PREFIX } from "./consumerWire.ts";

/**
 * A bearer request's receipt is unsigned (signing would cost the curve operation this path
 * avoids) unless the request carries `x-query-receipt: signed`.
 */
export const RECEIPT_HEADER = "x-query-receipt";

/** `Authorization: Bearer <token>`: the scheme's name is case-insensitive (RFC 9110). */
const BEARER_HEADER = /^bearer[ \t]+(\S*)[ \t]*$/i;

export type CreateBearerAuthenticatorParameters = {
  /** The registered grants: only registered keys' tokens are remembered. */
  keys: Pick<KeyRegistry, "grantOf">;
  /** The most tokens remembered; the oldest is forgotten past it. Default 100,000. */
  maxEntries?: number;
};

/**
 * Authenticates `Authorization: Bearer dao_sk_<64 hex>`: the query is charged to the lane of the
 * token's key, for the consumer whose grant registered it, and counted by the worker (no voucher).
 * A request without a `dao_sk_` bearer token is left to the next authenticator; one whose token is
 * malformed or whose key is not registered here is refused with KEY_UNKNOWN. The grant's other
 * checks (expiry, worker, fee, revocation, cap) are the query service's, through the key registry.
 * Its receipt is left unsigned unless the request asks (RECEIPT_HEADER).
 *
 * The token is the key's secp256k1 private key, so its address takes a curve multiplication to
 * derive (about 20 µs natively, 10 times that in WebAssembly: `npm run bench -- signatures`): that is done once per token per
 * process, and the token is then found by its SHA-256 (a microsecond), so a request with a known
 * key costs no curve work. Only tokens of registered keys are remembered, so random tokens cannot
 * fill the memory; each of those costs one derivation, no more than a signed request's recovery.
 */
export function createBearerAuthenticator(parameters: CreateBearerAuthenticatorParameters): QueryAuthenticator {
  const maxEntries = parameters.maxEntries ?? 100_000;
  /** Key addresses by the base64 SHA-256 of the token's lower-case hex. */
  const tokens = new Map<string, Address>();

  const unknown = (message: string) =>
    new WorkerError("KEY_UNKNOWN", message, {
      hints: [
        "Send `Authorization: Bearer dao_sk_` followed by the key's 64 hex digits, as it was printed when the key was made, and register its grant here first (POST /v1/keys).",
      ],
    });

  function keyOf(token: string): Address {
    const match = BEARER_TOKEN_PATTERN.exec(token);
    if (match === null) throw unknown("The bearer token is not a DAO AI key (dao_sk_ followed by 64 hex digits).");
    const hex = match[1]!.toLowerCase();
    const id = createHash("sha256").update(hex).digest("base64");
    const known = tokens.get(id);
    if (known !== undefined) return known;
    const publicKey = secp256k1.publicKey(Buffer.from(hex, "hex"));
    if (publicKey === null) throw unknown("The bearer token is not a valid secp256k1 private key.");
    const key = publicKeyToAddress(bytesToHex(publicKey));
    if (parameters.keys.grantOf(key) === undefined) throw unknown(`No grant is registered here for the key ${key}.`);
    if (tokens.size >= maxEntries) tokens.delete(tokens.keys().next().value!);
    tokens.set(id, key);
    return key;
  }

  return ({ headers, inputHash }) => {
    const header = headers.authorization === undefined ? null : BEARER_HEADER.exec(headers.authorization);
    // Another service's token (an OpenAI `sk-…` key, the `openai` client's placeholder) is no
    // credential here: the request is unauthenticated, not a key this worker does not know.
    if (header === null || !header[1]!.startsWith(BEARER_TOKEN_PREFIX)) return undefined;
    const key = keyOf(header[1]!);
    return {
      consumer: parameters.keys.grantOf(key)!.grant.consumer,
      key,
      inputHash,
      unsignedReceipt: headers[RECEIPT_HEADER] !== "signed",
    };
  };
}
