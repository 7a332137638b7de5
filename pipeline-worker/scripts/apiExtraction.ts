import type { Model } from "../src/model/Model.ts";
import { createInferenceTestSystem } from "../test/inference/createInferenceTestSystem.ts";
import { createApiOracle } from "./apiOracle.ts";
import { agreement, extractModel, type ExtractModelParameters } from "./extractionAttack.ts";

export type ApiExtractionParameters = {
  /** The model the worker serves (the real one). */
  target: Model;
  /** The consumer's quota per epoch, set by a governance proposal. */
  quota: bigint;
  /** The attacker's unlabelled messages. */
  pool: readonly string[];
  /** Queries the attacker will make at most; the quota may stop it sooner. */
  budget: number;
  /** Where the copy is compared with the real model. */
  heldOut: readonly string[];
  seed: number;
  features?: ExtractModelParameters["features"];
};

export type ApiExtractionResult = {
  /** Queries the worker answered over HTTP. */
  answered: number;
  stoppedByQuota: boolean;
  /** The worker's QUOTA_EXHAUSTED problem document, when it refused. */
  refusal: Record<string, unknown> | undefined;
  /** Share of the held-out messages on which the stolen copy and the real model agree. */
  agreement: number;
};

/**
 * The extraction attack over the worker's HTTP API: Hardhat's in-process chain with the system
 * deployed, a governance proposal that authorises the worker and gives the consumer (development
 * account 7) `quota` queries per epoch with no query fee, a worker serving `target` and listening
 * on a local port, and the attacker, as that consumer, signing random queries from its pool and
 * POSTing them until the worker refuses or the budget is spent. The copy is retrained from the
 * answered labels exactly as in process (extractModel, "uniform" strategy).
 */
export async function runApiExtraction(parameters: ApiExtractionParameters): Promise<ApiExtractionResult> {
  const t = await createInferenceTestSystem({ quota: parameters.quota, fee: 0n });
  try {
    const running = await t.startWorker({ model: parameters.target });
    const url = await running.worker.listen();
    const oracle = createApiOracle({
      url,
      account: t.consumer,
      chainId: t.deployment.chainId,
      usageSettlement: t.deployment.contracts.usageSettlement,
      now: t.clock.now,
    });
    const stolen = await extractModel({
      target: oracle.ask,
      pool: parameters.pool,
      budget: parameters.budget,
      strategy: "uniform",
      seed: parameters.seed,
      features: parameters.features,
    });
    return {
      answered: oracle.answered,
      stoppedByQuota: stolen.stoppedByQuota,
      refusal: oracle.refusal,
      agreement: await agreement(stolen.stolen, parameters.target, parameters.heldOut),
    };
  } finally {
    await t.cleanUp();
  }
}
