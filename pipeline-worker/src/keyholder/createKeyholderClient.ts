import type { Account, Address, Chain, Hex, Transport, WalletClient } from "viem";
import { isErrorCode } from "../internal/errorCodes.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import {
  formatSpecUploadAuthorization,
  keyholderDomain,
  specUploadTypes,
  type ShareRelease,
  type ShareRequest,
} from "./shareRequest.ts";
import type { ModelKeyRelease, ModelKeyRequest } from "./modelKeyRequest.ts";

/** What a training run (and a serving worker) needs from a keyholder, wherever it runs. */
export type KeyholderClient = {
  /** Where it is, for reports. */
  readonly name: string;
  publicKey(): Promise<Hex>;
  putSpec(runId: Hex, document: Uint8Array): Promise<void>;
  releaseShare(request: ShareRequest): Promise<ShareRelease>;
  /** A serving worker's request for a committed model's weights-key share. */
  releaseModelKey(request: ModelKeyRequest): Promise<ModelKeyRelease>;
};

export type CreateKeyholderClientParameters = {
  /** The keyholder's base URL, e.g. http://keyholder-1.example:8788. */
  url: string;
  /** Milliseconds per request. Default 30,000. */
  timeoutMs?: number;
  /**
   * The run's operator, which signs spec uploads (a keyholder takes a spec from no one else). The
   * signature's domain is the chain and PolicyRegistry the keyholder reports at GET /v1/keyholder:
   * it authorises only a spec upload to that keyholder, whose bytes must hash to the approved
   * specHash anyway. Without it, `putSpec` is refused (SIGNATURE_INVALID).
   */
  operator?: WalletClient<Transport, Chain | undefined, Account> | undefined;
  /** Unix seconds for the signature; injected by tests. Default: the clock. */
  now?: () => number;
};

/**
 * Talks to a keyholder's HTTP API. A refusal comes back as the keyholder's own WorkerError (its
 * code, message and hints from the problem+json), so a training run can tell a refusal that ends
 * the run (kill switch, run not approved, not the operator) from one about a single submission.
 */
export function createKeyholderClient(parameters: CreateKeyholderClientParameters): KeyholderClient {
  const base = parameters.url.replace(/\/+$/, "");
  const timeoutMs = parameters.timeoutMs ?? 30_000;
  let info: Promise<{ publicKey: Hex; chainId: number; policyRegistry: Address }> | undefined;
  const keyholderInfo = () => {
    info ??= call<{ publicKey: Hex; chainId: number; policyRegistry: Address }>("GET", "/v1/keyholder").then(
      (answer) => ({ ...answer, publicKey: answer.publicKey.toLowerCase() as Hex }),
    );
    info.catch(() => {
      info = undefined;
    });
    return info;
  };

  async function call<T>(
    method: string,
    path: string,
    body?: Uint8Array | string,
    type?: string,
    authorization?: string,
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(type ? { "content-type": type } : {}),
          ...(authorization ? { authorization } : {}),
        },
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (cause) {
      throw new WorkerError("KEY_SHARES_INSUFFICIENT", `Keyholder ${base} cannot be reached.`, {
        cause,
        hints: ["Check that the keyholder is running and reachable."],
        extra: { keyholder: base },
      });
    }
    const json = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.ok) return json as T;
    const code = isErrorCode(json.code) ? json.code : "INTERNAL";
    throw new WorkerError(code, `Keyholder ${base}: ${String(json.detail ?? `HTTP ${response.status}`)}`, {
      hints: Array.isArray(json.hints) ? (json.hints as string[]) : [],
      retryable: json.retryable === true,
      extra: { keyholder: base },
    });
  }

  return {
    name: base,
    async publicKey() {
      return (await keyholderInfo()).publicKey;
    },
    async putSpec(runId, document) {
      let authorization: string | undefined;
      if (parameters.operator) {
        const { publicKey, chainId, policyRegistry } = await keyholderInfo();
        const issuedAt = Math.floor((parameters.now ?? Date.now)() / 1000);
        const signature = await parameters.operator.signTypedData({
          account: parameters.operator.account,
          domain: keyholderDomain(chainId, policyRegistry),
          types: specUploadTypes,
          primaryType: "SpecUpload",
          message: { runId, keyholder: publicKey, issuedAt: BigInt(issuedAt) },
        });
        authorization = formatSpecUploadAuthorization({ issuedAt, signature });
      }
      await call("PUT", `/v1/runs/${runId}/spec`, document, "application/octet-stream", authorization);
    },
    releaseShare(request) {
      return call<ShareRelease>("POST", "/v1/shares", JSON.stringify(request), "application/json");
    },
    releaseModelKey(request) {
      return call<ModelKeyRelease>("POST", "/v1/model-keys", JSON.stringify(request), "application/json");
    },
  };
}
