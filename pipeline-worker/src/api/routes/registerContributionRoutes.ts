import type { FastifyInstance } from "fastify";
import type { Address, Hex, PublicClient } from "viem";
import { modelCommitmentsAbi } from "../../abis.ts";
import type { ContentStore } from "../../storage/ContentStore.ts";
import { parseContributionsTree } from "../../training/contributionsTree.ts";
import { WorkerError } from "../../internal/WorkerError.ts";
import { jsonSchemaOf } from "../jsonSchemaOf.ts";
import { bytes32Schema } from "../wireScalars.ts";

export type RegisterContributionRoutesParameters = {
  publicClient: PublicClient;
  modelCommitments: Address;
  store: Pick<ContentStore, "get">;
};

/**
 * `GET /v1/runs/:runId/contributions`: the contributions tree a committed model was trained on
 * (the StandardMerkleTree dump its training run stored on IPFS, at the commitment's
 * contributionsURI), from this worker's content store, for contributors to see which models used
 * their data and take the proofs RunRewards.claim takes. Served only once checked against the
 * commitment's root and total weight; clients check it again against the chain, since the CID
 * and the root bind it, so no authentication is asked and any worker holding it may serve it.
 */
export function registerContributionRoutes(
  app: FastifyInstance,
  parameters: RegisterContributionRoutesParameters,
): void {
  const { publicClient, modelCommitments, store } = parameters;
  app.get<{ Params: { runId: Hex } }>(
    "/v1/runs/:runId/contributions",
    {
      schema: {
        params: {
          type: "object",
          required: ["runId"],
          properties: { runId: jsonSchemaOf(bytes32Schema) },
        },
      },
    },
    async (request, reply) => {
      const runId = request.params.runId.toLowerCase() as Hex;
      const commitment = await publicClient
        .readContract({
          address: modelCommitments,
          abi: modelCommitmentsAbi,
          functionName: "commitmentOf",
          args: [runId],
        })
        .catch((cause: unknown) => {
          throw new WorkerError("CHAIN_UNAVAILABLE", "Cannot read the model commitment on chain.", {
            cause,
            retryable: true,
          });
        });
      if (commitment.committedAt === 0n) {
        throw new WorkerError("MODEL_NOT_COMMITTED", `Run ${runId} has no committed model.`);
      }
      const cid = /^ipfs:\/\/([a-zA-Z0-9]+)$/.exec(commitment.contributionsURI)?.[1];
      if (cid === undefined) {
        throw new WorkerError(
          "CONTRIBUTIONS_TREE_INVALID",
          `Run ${runId} committed its contributions at ${commitment.contributionsURI}, not an ipfs:// CID.`,
        );
      }
      const chunks: Uint8Array[] = [];
      for await (const chunk of store.get(cid)) chunks.push(chunk);
      const dump = Buffer.concat(chunks);
      parseContributionsTree(dump, { root: commitment.contributionsRoot, totalWeight: commitment.totalWeight });
      // Content-addressed and committed: it never changes.
      return reply
        .header("cache-control", "public, max-age=31536000, immutable")
        .type("application/json; charset=utf-8")
        .send(dump);
    },
  );
}
