import type { Address, Hex } from "viem";
import { z } from "zod";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * The deployment manifest: the JSON the deploy writes (`deployments/<chainId>.json`) and the
 * worker, the keyholder, the notifier, the CLIs and the UI read. Its one schema is here, exported
 * as `@dao-ai/pipeline-worker/deployment`; every reader validates the whole manifest with it, so a
 * broken, truncated or foreign file is refused at once, naming the file and the field, rather
 * than failing later at whichever part first needs the missing field.
 */

// Addresses are kept as the deploy wrote them (lowercase, from its receipts): readers that compare
// them with what the chain returns rely on that.
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, { error: "must be an address (0x and 40 hex digits)" })
  .transform((value) => value as Address);
const decimal = z.string().regex(/^(0|[1-9][0-9]*)$/, { error: "must be a decimal number as a string" });

export const deploymentManifestSchema = z.object({
  chainId: z.int().positive(),
  /** The block the deploy began at: no event of the system is older, so syncs start here. */
  deploymentBlock: decimal,
  deployer: address,
  contracts: z.object({
    schemaRegistry: address,
    eas: address,
    token: address,
    timelock: address,
    governor: address,
    policyRegistry: address,
    contributorRewards: address,
    usageSettlement: address,
    modelCommitments: address,
    /** Pays each committed model's fees to the contributions it learned from. */
    runRewards: address,
  }),
  /** The EAS schema data attestations are made under. */
  dataSchema: z.object({
    uid: z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/, { error: "must be 0x and 64 hex digits" })
      .transform((value) => value as Hex),
    definition: z.string(),
  }),
  /** The guardian the policy registry was constructed with (its constructor emits no event). */
  guardian: address,
  /** The settings the contracts were constructed with; numbers beyond 2^53 as decimal strings. */
  settings: z.object({
    votingDelay: z.int().nonnegative(),
    votingPeriod: z.int().positive(),
    proposalThreshold: decimal,
    quorumNumerator: decimal,
    lateQuorumExtension: z.int().nonnegative(),
    timelockMinDelay: decimal,
    epochLength: decimal,
    revealDelay: decimal,
  }),
});
export type DeploymentManifest = z.infer<typeof deploymentManifestSchema>;

/**
 * Checks `json` against the manifest's schema; `source` names where it came from in the error
 * (`The deployment manifest deployments/31337.json`). Throws CONFIG_INVALID naming the first
 * wrong field in its message and the next ones in its hints.
 */
export function parseDeploymentManifest(json: unknown, source = "The deployment manifest"): DeploymentManifest {
  const parsed = deploymentManifestSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const problems = describeIssues(parsed.error.issues);
  const shown = 5;
  throw new WorkerError("CONFIG_INVALID", `${source} is invalid: ${problems[0]}.`, {
    hints: [
      ...problems.slice(1, shown).map((problem) => `Also: ${problem}.`),
      ...(problems.length > shown ? [`And ${problems.length - shown} more.`] : []),
      "Use the manifest `npm run deploy` wrote for this chain (deployments/<chainId>.json); redeploy if it was written by another tool or an older version.",
    ],
    extra: { problems, field: parsed.error.issues[0]!.path.join(".") },
  });
}

/** What is wrong with `json` as a deployment manifest, one line a field (`contracts.eas is missing`); none when it is one. */
export function deploymentManifestProblems(json: unknown): string[] {
  const parsed = deploymentManifestSchema.safeParse(json);
  return parsed.success ? [] : describeIssues(parsed.error.issues);
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    if (issue.path.length === 0) return "it is not a JSON object";
    // zod says "expected string, received undefined": a reader wants to hear that it is missing.
    const missing = issue.code === "invalid_type" && / received undefined$/.test(issue.message);
    return `${issue.path.join(".")} ${missing ? "is missing" : issue.message.replace(/^Invalid input: /, "is invalid: ")}`;
  });
}
