// A consumer's commands: API keys, usage, deposits and withdrawals, access tiers.
//
//   npm run consume -- keys create [--max-queries N --max-fee ETH --expires 30d --worker ADDR]
//   npm run consume -- keys list | keys revoke KEY
//   npm run consume -- usage [--csv]
//   npm run consume -- deposit ETH | withdraw [request ETH | take]
//   npm run consume -- tiers | join-tier ID [--epochs N]
//
// On the local stack (`npm start`) the chain, the manifest and the worker come from the data
// directory and the consumer is a development account (--account N, default the query consumer
// #7). On another chain pass --rpc-url, --manifest and --worker-url, and the consumer's key in
// CONSUMER_PRIVATE_KEY (never a flag, so it stays out of shell history).
import { parseArgs } from "node:util";
import { createPublicClient, createWalletClient, getAddress, http, isAddress, type Hex, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { createWorkerClient } from "./lib/actors/createWorkerClient.ts";
import { depositCommands } from "./lib/actors/consume/depositCommands.ts";
import { keyCommands } from "./lib/actors/consume/keyCommands.ts";
import { tierCommands } from "./lib/actors/consume/tiers.ts";
import { usageCommands } from "./lib/actors/consume/usageCommands.ts";
import type { ConsumeCommands, ConsumeContext } from "./lib/actors/consume/consumeContext.ts";
import { DEV_ROLES } from "./lib/stack/devAccounts.ts";
import { readManifest } from "./lib/deploy/manifest.ts";
import { DEFAULT_DATA_DIR } from "./lib/stack/stackFiles.ts";
import { runChainCli } from "./lib/cli/runChainCli.ts";
import { chainAt } from "./lib/cli/chainAt.ts";
import { cliPrivateKey } from "./lib/cli/cliPrivateKey.ts";
import { locateDeployment } from "./lib/cli/locateDeployment.ts";

const groups: ConsumeCommands[] = [tierCommands, keyCommands, usageCommands, depositCommands];

const USAGE = `Usage: npm run consume -- <command> [options]

Commands:
${groups.map((g) => g.usage).join("\n")}

Where and as whom:
  --account N          on the local stack: act as development account N (default ${DEV_ROLES.consumer}, the query consumer)
  --consumer ADDR      usage, keys list, withdraw: show another consumer's; deposit: pay into its deposit
  --data-dir DIR       the local stack's data directory (default .data)
  --rpc-url URL        another chain: its JSON-RPC endpoint (with --manifest)
  --manifest FILE      another chain: its deployment manifest
  --worker-url URL     a worker to register keys at and read usage from (repeat for several;
                       default on the local stack: its worker)

On another chain the consumer's key comes from CONSUMER_PRIVATE_KEY (it is used on the local stack
too when set).`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "max-queries": { type: "string" },
    "max-fee": { type: "string" },
    expires: { type: "string" },
    worker: { type: "string" },
    csv: { type: "boolean", default: false },
    above: { type: "string" },
    epochs: { type: "string" },
    account: { type: "string" },
    consumer: { type: "string" },
    "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
    "rpc-url": { type: "string" },
    manifest: { type: "string" },
    "worker-url": { type: "string", multiple: true, default: [] },
    help: { type: "boolean", short: "h", default: false },
  },
});

/** Progress and explanations go to standard error, so standard output carries only results (a token, a CSV). */
const say = (line: string) => console.error(line);

function loadContext(): ConsumeContext {
  const { remote, rpcUrl, manifestFile, stackWorkerUrl } = locateDeployment({
    rpcUrl: values["rpc-url"],
    manifest: values.manifest,
    dataDir: values["data-dir"],
    remoteOptions: "--rpc-url, --manifest and --worker-url",
  });
  let workerUrls = values["worker-url"]!;
  if (workerUrls.length === 0 && stackWorkerUrl) workerUrls = [stackWorkerUrl];
  const deployment = readManifest(manifestFile);
  const chain = chainAt(deployment.chainId, rpcUrl);
  const wallet = createWalletClient({
    account: privateKeyToAccount(consumerKey(!remote)),
    chain,
    transport: http(rpcUrl),
  });
  let consumer = wallet.account.address;
  if (values.consumer !== undefined) {
    if (!isAddress(values.consumer)) throw new BaseError(`--consumer ${values.consumer} is not an address.`);
    consumer = getAddress(values.consumer);
  }
  return {
    rpcUrl,
    local: !remote,
    publicClient: createPublicClient({ chain, transport: http(rpcUrl) }) as PublicClient,
    deployment,
    wallet,
    consumer,
    workers: workerUrls.map((url) => createWorkerClient(url.replace(/\/+$/, ""))),
    args: positionals.slice(1),
    options: values,
    where: where(remote),
    say,
  };
}

/** CONSUMER_PRIVATE_KEY when set; on the local stack otherwise a development account's key. */
function consumerKey(local: boolean): Hex {
  return cliPrivateKey({
    variable: "CONSUMER_PRIVATE_KEY",
    local,
    account: values.account,
    devAccount: DEV_ROLES.consumer,
    needs: "Export the consumer's private key as CONSUMER_PRIVATE_KEY: it signs key grants and pays deposits.",
  });
}

/** The options that reach the same chain, workers and consumer again, for the next command printed. */
function where(remote: boolean): string {
  const workers = values["worker-url"]!.map((url) => ` --worker-url ${url}`).join("");
  if (remote) return ` --rpc-url ${values["rpc-url"]} --manifest ${values.manifest}${workers}`;
  const dataDir = values["data-dir"] === DEFAULT_DATA_DIR ? "" : ` --data-dir ${values["data-dir"]}`;
  return `${dataDir}${values.account === undefined ? "" : ` --account ${values.account}`}${workers}`;
}

runChainCli({
  usage: USAGE,
  help: values.help,
  command: positionals[0],
  commands: Object.assign({}, ...groups.map((g) => g.commands)) as ConsumeCommands["commands"],
  loadContext,
});
