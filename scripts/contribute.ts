// A contributor's commands: what each contribution earned from the models that used it, and claims.
//
//   npm run contribute -- earnings
//   npm run contribute -- claim [--run RUN] [--data HASH]
//   npm run contribute -- withdraw --data HASH
//
// The fees of the queries a model answers go to the contributions it was trained on (RunRewards),
// pro rata to their weights; a claim proves a contribution's place in the model's contributions
// tree, which the worker serves. On the local stack (`npm start`) the chain, the manifest and the
// worker come from the data directory and the contributor is a development account (--account N,
// default the data contributor #6). On another chain pass --rpc-url, --manifest and --worker-url,
// and the contributor's key in CONTRIBUTOR_PRIVATE_KEY (never a flag, so it stays out of shell history).
import { parseArgs } from "node:util";
import { createPublicClient, createWalletClient, getAddress, http, isAddress, type Hex, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { BaseError } from "@dao-ai/pipeline-worker/attestations";
import { createWorkerClient } from "./lib/actors/createWorkerClient.ts";
import { EARNINGS_USAGE, earningsCommands, type ContributeContext } from "./lib/actors/contribute/earningsCommands.ts";
import { WITHDRAW_USAGE, withdrawCommands } from "./lib/actors/contribute/withdrawCommands.ts";
import { DEV_ROLES } from "./lib/stack/devAccounts.ts";
import { readManifest } from "./lib/deploy/manifest.ts";
import { runChainCli } from "./lib/cli/runChainCli.ts";
import { DEFAULT_DATA_DIR } from "./lib/stack/stackFiles.ts";
import { chainAt } from "./lib/cli/chainAt.ts";
import { cliPrivateKey } from "./lib/cli/cliPrivateKey.ts";
import { locateDeployment } from "./lib/cli/locateDeployment.ts";

const USAGE = `Usage: npm run contribute -- <command> [options]

Commands:
${EARNINGS_USAGE}
${WITHDRAW_USAGE}

Where and as whom:
  --account N          on the local stack: act as development account N (default ${DEV_ROLES.contributor}, the data contributor)
  --contributor ADDR   earnings: show another contributor's (claims always pay the contribution's contributor)
  --data-dir DIR       the local stack's data directory (default .data)
  --rpc-url URL        another chain: its JSON-RPC endpoint (with --manifest and --worker-url)
  --manifest FILE      another chain: its deployment manifest
  --worker-url URL     a worker serving the models' contributions trees (default on the local stack: its worker)

On another chain the contributor's key comes from CONTRIBUTOR_PRIVATE_KEY.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    run: { type: "string" },
    data: { type: "string" },
    account: { type: "string" },
    contributor: { type: "string" },
    "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
    "rpc-url": { type: "string" },
    manifest: { type: "string" },
    "worker-url": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

function loadContext(): ContributeContext {
  const { remote, rpcUrl, manifestFile, stackWorkerUrl } = locateDeployment({
    rpcUrl: values["rpc-url"],
    manifest: values.manifest,
    dataDir: values["data-dir"],
    remoteOptions: "--rpc-url, --manifest and --worker-url",
  });
  const workerUrl = values["worker-url"] ?? stackWorkerUrl;
  if (!workerUrl) {
    throw new BaseError(
      remote ? "--worker-url is needed with --rpc-url and --manifest." : "The local stack has no worker.",
      {
        hints: ["Pass a worker's URL with --worker-url."],
      },
    );
  }
  const deployment = readManifest(manifestFile);
  if (!deployment.contracts.runRewards) {
    throw new BaseError(`The deployment in ${manifestFile} has no RunRewards contract.`, {
      hints: ["It predates rewards that follow use: redeploy (`npm run deploy`, or `npm start -- --fresh`)."],
    });
  }
  const chain = chainAt(deployment.chainId, rpcUrl);
  const wallet = createWalletClient({
    account: privateKeyToAccount(contributorKey(!remote)),
    chain,
    transport: http(rpcUrl),
  });
  let contributor = wallet.account.address;
  if (values.contributor !== undefined) {
    if (!isAddress(values.contributor)) throw new BaseError(`--contributor ${values.contributor} is not an address.`);
    contributor = getAddress(values.contributor);
  }
  return {
    rpcUrl,
    local: !remote,
    publicClient: createPublicClient({ chain, transport: http(rpcUrl) }) as PublicClient,
    deployment,
    wallet,
    contributor,
    worker: createWorkerClient(workerUrl.replace(/\/+$/, "")),
    options: values,
    say: (line) => console.error(line),
  };
}

/** CONTRIBUTOR_PRIVATE_KEY when set; on the local stack otherwise a development account's key. */
function contributorKey(local: boolean): Hex {
  return cliPrivateKey({
    variable: "CONTRIBUTOR_PRIVATE_KEY",
    local,
    account: values.account,
    devAccount: DEV_ROLES.contributor,
    needs: "Export the contributor's private key as CONTRIBUTOR_PRIVATE_KEY: it signs the claim.",
  });
}

runChainCli({
  usage: USAGE,
  help: values.help,
  command: positionals[0],
  commands: { ...earningsCommands, ...withdrawCommands },
  loadContext,
});
