import type { QueryResponse, QuotaStatus, SignedQueryRequest } from "@dao-ai/pipeline-worker/consumer-api";
import type { Address, Hex } from "viem";
import type { WorkerApi } from "./workerApi.ts";

// Key and usage-history shapes are provisional (issue 14 spec) until their routes' schemas land.
export type KeyGrantWire = {
  consumer: Address;
  key: Address;
  worker: Address;
  maxQueries: string;
  maxFeePerQuery: string;
  expiresAt: string;
};
export type KeyInfo = {
  grant: KeyGrantWire;
  usedHere: string;
  used: string;
  remaining: string;
  revokedAt: string;
  expiresAt: string;
};
export type UsageRow = {
  consumer: Address;
  key: Address;
  worker: Address;
  epoch: string;
  served: string;
  charged: string;
  settledTotal: string;
  paidWei: string;
  state: "open" | "pending" | "settled";
  transactionHash: Hex | null;
};
/** The worker's consumer routes: quota, keys, usage history, and questions with a key or a signature. */
export function createConsumeApi(api: WorkerApi) {
  const { request, json } = api;
  const consumerQuery = (consumer: Address) => `consumer=${encodeURIComponent(consumer)}`;
  return {
    baseUrl: api.baseUrl,
    quota: (consumer: Address) => request<QuotaStatus>(`/v1/quota?${consumerQuery(consumer)}`),
    /** Registers a grant the consumer signed; the worker then accepts its key's bearer token. */
    registerKey: (grant: KeyGrantWire, signature: Hex) =>
      request<KeyInfo>("/v1/keys", json("POST", { grant, signature })),
    keys: (consumer: Address) => request<{ keys: KeyInfo[] }>(`/v1/keys?${consumerQuery(consumer)}`),
    usage: (consumer: Address) => request<{ usage: UsageRow[] }>(`/v1/usage?${consumerQuery(consumer)}`),
    /** The same history as CSV, for a download link. */
    usageCsvUrl: (consumer: Address) => `${api.baseUrl}/v1/usage?${consumerQuery(consumer)}&format=csv`,
    models: () => request<{ data: { id: string }[] }>("/v1/models"),
    askWithKey: (token: string, input: string) =>
      request<QueryResponse>("/v1/queries", {
        ...json("POST", { input }),
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      }),
    askSigned: (body: SignedQueryRequest) => request<QueryResponse>("/v1/queries", json("POST", body)),
  };
}

export type ConsumeApi = ReturnType<typeof createConsumeApi>;
