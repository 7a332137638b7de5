// `npm run demo`: the story of the system, end to end, narrated, against the stack `npm start`
// runs (or one it starts for the occasion and stops afterwards). Every step checks that the
// system behaved as the story says; the first that does not stops the demo with a non-zero exit.
//
//   npm run demo [-- --data-dir DIR --chain-port 8545 --worker-port 8787 --keyholder-ports 8801,8802,8803]
//
// Each chapter is a module of scripts/demo/ (numbered in the order told); scripts/demo/story.ts holds
// what they share: the narration, the stack's clients and the vote every proposal goes through.
import { parseArgs } from "node:util";
import { getContract } from "viem";
import { policyRegistryAbi } from "../deployments/abis.ts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { createGovernanceDriver } from "./lib/actors/createGovernanceDriver.ts";
import { createWorkerClient } from "./lib/actors/createWorkerClient.ts";
import { readManifest } from "./lib/deploy/manifest.ts";
import { ensureStack } from "./lib/stack/ensureStack.ts";
import { localChainClients } from "./lib/stack/localChain.ts";
import { DEFAULT_DATA_DIR } from "./lib/stack/stackFiles.ts";
import { oneEpoch } from "./demo/01-oneEpoch.ts";
import { holdersVoteAPolicy } from "./demo/02-holdersVoteAPolicy.ts";
import { attestAndSubmit } from "./demo/03-attestAndSubmit.ts";
import { refusals } from "./demo/04-refusals.ts";
import { train } from "./demo/05-train.ts";
import { queries } from "./demo/06-queries.ts";
import { killSwitch } from "./demo/07-killSwitch.ts";
import { liftKillSwitch } from "./demo/08-liftKillSwitch.ts";
import { claimRewards } from "./demo/09-claimRewards.ts";
import { claimModelFees } from "./demo/10-claimModelFees.ts";
import { chaptersBegun, line, report, roles, style, type Demo } from "./demo/story.ts";

const { values } = parseArgs({
  options: {
    "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
    "chain-port": { type: "string" },
    "worker-port": { type: "string" },
    "keyholder-ports": { type: "string" },
    "ui-port": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(`npm run demo [-- options]

Tells the story of the system end to end against the running stack (npm start), or starts one
for the occasion and stops it afterwards. Exits non-zero if any step does not behave as told.

  --data-dir DIR      the stack's data directory (default .data)
  --chain-port PORT   when it starts a stack: the chain's port
  --worker-port PORT  when it starts a stack: the worker's port
  --keyholder-ports P1,P2,P3
                      when it starts a stack: the keyholders' ports
  --ui-port PORT      when it starts a stack: the UI's port`);
  process.exit(0);
}

// -------------------------------------------------------------------------------------------------

async function main() {
  line(style.bold("The story of a DAO that governs a private AI"));
  const startArgs = [
    ...(values["chain-port"] ? ["--chain-port", values["chain-port"]] : []),
    ...(values["worker-port"] ? ["--worker-port", values["worker-port"]] : []),
    ...(values["keyholder-ports"] ? ["--keyholder-ports", values["keyholder-ports"]] : []),
    ...(values["ui-port"] ? ["--ui-port", values["ui-port"]] : []),
  ];
  const stack = await report.step("Finding the running stack", async (detail) => {
    const ensured = await ensureStack({
      dataDir: values["data-dir"]!,
      startArgs,
      onOutput: (l) => detail(`│ ${l}`),
    });
    detail(
      ensured.started
        ? "no stack was running: started one (npm start) for the demo; it stops at the end"
        : `the stack npm start runs (process ${ensured.info.pid})`,
    );
    return ensured;
  });
  let failed = false;
  try {
    const { info } = stack;
    const clients = localChainClients(info.rpcUrl);
    const deployment = readManifest(info.manifest);
    const workerUrl = info.services.find((s) => s.name === "worker")?.url;
    if (!workerUrl) throw new BaseError("The stack runs no worker.");
    const worker = createWorkerClient(workerUrl);
    const d: Demo = {
      info,
      deployment,
      clients,
      worker,
      registry: getContract({
        address: deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        client: clients.publicClient,
      }),
      dataDir: values["data-dir"]!,
      governance: createGovernanceDriver({
        publicClient: clients.publicClient,
        testClient: clients.testClient,
        deployment,
        proposer: clients.wallet(roles.holders[0]!.index),
        executor: clients.wallet(roles.outsider),
      }),
      epoch: 0n,
      run: Date.now().toString(16),
      contributed: [],
    };
    const state = await d.registry.read.killSwitch();
    if (state.engaged) {
      throw new BaseError(`The kill switch is engaged on this stack: "${state.reason}".`, {
        hints: [
          "Lift it by a vote (the governance UI, or a proposal calling liftKillSwitch) and run the demo again.",
          "Or run the demo on a fresh stack: npm run demo -- --data-dir /tmp/dao-ai-demo (with other ports if one is running).",
        ],
      });
    }
    await oneEpoch(d);
    const { lab } = await holdersVoteAPolicy(d);
    await attestAndSubmit(d);
    await refusals(d);
    await train(d);
    await queries(d, lab);
    await killSwitch(d);
    await liftKillSwitch(d);
    await claimRewards(d);
    await claimModelFees(d);
    line();
    line(style.bold(style.green("The story went as told.")));
  } catch (error) {
    failed = true;
    line();
    line(
      style.red(
        chaptersBegun() === 0
          ? "The story cannot be told on this stack."
          : `The story did not go as told in chapter ${chaptersBegun()}.`,
      ),
    );
    report.failure(error);
  } finally {
    if (stack.started) {
      line(style.dim("Stopping the stack the demo started…"));
      await stack.stop();
    }
  }
  process.exit(failed ? 1 : 0);
}

main().catch((error: unknown) => {
  report.failure(error);
  process.exit(1);
});
