import type {
  KeyGrantWire,
  KeyList,
  KeyStatus,
  QueryResponse,
  QuotaStatus,
  SignedQueryRequest,
  UsageHistory,
} from "@dao-ai/pipeline-worker/consumer-api";
import type { ModelList } from "@dao-ai/pipeline-worker/openai";
import { useQuery } from "@tanstack/react-query";
import type { Address, Hex } from "viem";
import type { WorkerApi } from "./workerApi.ts";

/** The worker's consumer routes: quota, keys, usage history, and questions with a key or a signature. */
export function createConsumeApi(api: WorkerApi) {
  const { request, json } = api;
  const consumerQuery = (consumer: Address) => `consumer=${encodeURIComponent(consumer)}`;
  return {
    baseUrl: api.baseUrl,
    quota: (consumer: Address) => request<QuotaStatus>(`/v1/quota?${consumerQuery(consumer)}`),
    /** Registers a grant the consumer signed; the worker then accepts its key's bearer token. */
    registerKey: (grant: KeyGrantWire, signature: Hex) =>
      request<KeyStatus>("/v1/keys", json("POST", { grant, signature })),
    keys: (consumer: Address) => request<KeyList>(`/v1/keys?${consumerQuery(consumer)}`),
    usage: (consumer: Address) => request<UsageHistory>(`/v1/usage?${consumerQuery(consumer)}`),
    /** The same history as CSV, for a download link. */
    usageCsvUrl: (consumer: Address) => `${api.baseUrl}/v1/usage?${consumerQuery(consumer)}&format=csv`,
    models: () => request<ModelList>("/v1/models"),
    askWithKey: (token: string, input: string) =>
      request<QueryResponse>("/v1/queries", {
        ...json("POST", { input }),
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      }),
    askSigned: (body: SignedQueryRequest) => request<QueryResponse>("/v1/queries", json("POST", body)),
  };
}

export type ConsumeApi = ReturnType<typeof createConsumeApi>;

/** The consumer's usage history at the worker, polled; one query for every part of the page that shows it. */
export function useUsageHistory(consumeApi: ConsumeApi | null, consumer: Address) {
  return useQuery({
    queryKey: ["worker", "usage", consumer],
    queryFn: () => consumeApi!.usage(consumer),
    enabled: consumeApi !== null,
    refetchInterval: 3_000,
    retry: false,
  });
}
