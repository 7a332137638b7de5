import { stringify } from "csv-stringify/sync";
import type { FastifyInstance } from "fastify";
import Negotiator from "negotiator";
import { getAddress, type Address, type PublicClient } from "viem";
import { usageSettlementAbi } from "../../abis.ts";
import type { LaneRecord, UsageStore } from "../../inference/createUsageStore.ts";
import { WorkerError } from "../../internal/WorkerError.ts";
import { USAGE_CSV_COLUMNS, usageHistorySchema, type UsageHistory, type UsageLane } from "../consumerWire.ts";
import { jsonSchemaOf } from "../jsonSchemaOf.ts";
import { addressSchema } from "../wireScalars.ts";

export type RegisterUsageRoutesParameters = {
  store: Pick<UsageStore, "history">;
  /** This worker's address: the `worker` of every lane it serves. */
  worker: Address;
  publicClient: PublicClient;
  usageSettlement: Address;
};

const CSV_TYPE = "text/csv; charset=utf-8";

/**
 * `GET /v1/usage?consumer=`: what a consumer used, was charged, settled and paid at this worker,
 * per lane (key) and epoch, newest epoch first; as CSV with `?format=csv` or `Accept: text/csv`
 * (a spreadsheet, an invoice). The counts come from the usage store; a lane not yet settled has
 * its settled total read on chain (`UsageSettlement.settledTotal`), so a settlement that landed
 * while the worker was down, or before it saw the receipt, shows at once. The usage of an address
 * is public on chain already (UsageSettled events), so the route asks for no authentication.
 */
export function registerUsageRoutes(app: FastifyInstance, parameters: RegisterUsageRoutesParameters): void {
  const { store, publicClient, usageSettlement } = parameters;
  const worker = getAddress(parameters.worker);

  async function laneOf(record: LaneRecord): Promise<UsageLane> {
    let settledTotal = record.settledTotal;
    let state = record.state;
    if (state === "open" || state === "pending") {
      const { consumer, key, epoch } = record.lane;
      const onChain = await publicClient
        .readContract({
          address: usageSettlement,
          abi: usageSettlementAbi,
          functionName: "settledTotal",
          args: [consumer, key, worker, epoch],
        })
        .catch((cause: unknown) => {
          throw new WorkerError("CHAIN_UNAVAILABLE", "Cannot read the settled usage on chain.", {
            cause,
            retryable: true,
          });
        });
      if (onChain > settledTotal) settledTotal = onChain;
      if (settledTotal >= record.charged) state = "settled";
    }
    return {
      epoch: record.lane.epoch.toString(),
      key: getAddress(record.lane.key),
      worker,
      served: record.served.toString(),
      charged: record.charged.toString(),
      settledTotal: settledTotal.toString(),
      paidWei: record.paidWei.toString(),
      state,
      transactionHash: record.transactionHash ?? null,
      reason: record.reason ?? null,
    };
  }

  app.get<{ Querystring: { consumer: string; format?: "json" | "csv" } }>(
    "/v1/usage",
    {
      schema: {
        querystring: {
          type: "object",
          required: ["consumer"],
          additionalProperties: false,
          properties: { consumer: jsonSchemaOf(addressSchema), format: { type: "string", enum: ["json", "csv"] } },
        },
        response: { 200: jsonSchemaOf(usageHistorySchema) },
      },
    },
    async (request, reply) => {
      const consumer = getAddress(request.query.consumer);
      const records = await store.history(consumer);
      // Newest epoch first: what a person looks for first, and what an invoice starts with.
      const lanes = await Promise.all(records.toReversed().map(laneOf));
      const history: UsageHistory = { consumer, worker, lanes };
      const format =
        request.query.format ??
        (new Negotiator(request).mediaType(["application/json", "text/csv"]) === "text/csv" ? "csv" : "json");
      if (format === "json") return history;
      // A string payload is sent as it is: the response schema (JSON's) does not apply to it.
      return reply
        .type(CSV_TYPE)
        .header("content-disposition", `attachment; filename="usage-${consumer}.csv"`)
        .send(
          stringify(
            lanes.map((lane) => ({ consumer, ...lane })),
            { header: true, columns: [...USAGE_CSV_COLUMNS] },
          ),
        );
    },
  );
}
