// Checks a revealed model against its on-chain commitment: anyone can run it.
//
//   node pipeline-worker/scripts/verify-model.ts --rpc-url URL --deployment deployments/<chainId>.json \
//     --run-id 0x... (--gateway URL | --kubo-url URL | --ipfs-dir DIR | --file PATH)
//
// Reads ModelCommitments.commitmentOf(runId), fetches the revealed weights (from an IPFS HTTP
// gateway, a Kubo node or a local Helia repository, each checked against the CID; or a local
// copy), hashes them and compares with the committed weightsHash (and asks the contract's
// verifyWeightsHash too). Exit status: 0 the weights match; 1 they do not, or they could not be
// checked (not revealed, unreachable); 2 the command line is wrong. Prints one line saying which,
// then the details as JSON.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { createPublicClient, getAddress, http, isAddress, type Address, type Hex, type PublicClient } from "viem";
import { BaseError } from "../src/internal/BaseError.ts";
import { WorkerError } from "../src/internal/WorkerError.ts";
import { computeCid } from "../src/storage/computeCid.ts";
import type { ContentStore } from "../src/storage/ContentStore.ts";
import { verifyRevealedModel } from "../src/training/verifyRevealedModel.ts";

const USAGE =
  "usage: verify-model.ts --rpc-url URL (--deployment FILE | --model-commitments ADDRESS) --run-id 0x<32 bytes> (--gateway URL | --kubo-url URL | --ipfs-dir DIR | --file PATH)";

function usage(problem: string): never {
  console.error(`${problem}\n${USAGE}`);
  process.exit(2);
}

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      "rpc-url": { type: "string" },
      deployment: { type: "string" },
      "model-commitments": { type: "string" },
      "run-id": { type: "string" },
      gateway: { type: "string" },
      "kubo-url": { type: "string" },
      "ipfs-dir": { type: "string" },
      file: { type: "string" },
    },
    strict: true,
  }));
} catch (error) {
  usage((error as Error).message);
}

const rpcUrl = values["rpc-url"] ?? usage("--rpc-url is missing.");
const runId = values["run-id"] ?? usage("--run-id is missing.");
if (!/^0x[0-9a-fA-F]{64}$/.test(runId)) usage("--run-id must be 0x followed by 64 hex digits.");
const sources = ["gateway", "kubo-url", "ipfs-dir", "file"].filter((name) => values[name] !== undefined);
if (sources.length !== 1) usage("Give exactly one of --gateway, --kubo-url, --ipfs-dir and --file.");

let modelCommitments: Address;
if (values["model-commitments"] !== undefined) {
  if (!isAddress(values["model-commitments"])) usage("--model-commitments must be an address.");
  modelCommitments = getAddress(values["model-commitments"]);
} else if (values.deployment !== undefined) {
  const manifest = JSON.parse(await readFile(values.deployment, "utf8")) as {
    contracts?: { modelCommitments?: string };
  };
  const address = manifest.contracts?.modelCommitments;
  if (address === undefined || !isAddress(address)) usage(`${values.deployment} names no modelCommitments contract.`);
  modelCommitments = getAddress(address);
} else {
  usage("Give --deployment or --model-commitments.");
}

let store: ContentStore | undefined;
try {
  const client = createPublicClient({ transport: http(rpcUrl, { retryCount: 1 }) }) as PublicClient;
  // Each store is loaded only when chosen: their clients are most of the command's start-up time.
  if (values["kubo-url"] !== undefined) {
    const { createKuboContentStore } = await import("../src/storage/createKuboContentStore.ts");
    store = createKuboContentStore({ url: values["kubo-url"] });
  }
  if (values["ipfs-dir"] !== undefined) {
    const { createHeliaContentStore } = await import("../src/storage/createHeliaContentStore.ts");
    store = await createHeliaContentStore({ directory: values["ipfs-dir"] });
  }
  const result = await verifyRevealedModel({
    runId: runId as Hex,
    publicClient: client,
    modelCommitments,
    fetchRevealed: (uri) => fetchRevealed(uri, store),
  });
  console.log(`OK: the revealed weights of run ${runId} match the committed hash ${result.committedWeightsHash}.`);
  console.log(JSON.stringify(result, null, 2));
  await store?.close();
  process.exit(0);
} catch (error) {
  await store?.close().catch(() => {});
  if (error instanceof WorkerError) {
    const verdict = error.code === "WEIGHTS_MISMATCH" ? "MISMATCH" : "NOT VERIFIED";
    console.error(`${verdict}: ${error.shortMessage}${error.hints.length > 0 ? ` ${error.hints.join(" ")}` : ""}`);
    if (Object.keys(error.extra).length > 0) console.error(JSON.stringify(error.extra, null, 2));
  } else {
    console.error(`NOT VERIFIED: ${error instanceof BaseError ? error.shortMessage : String(error)}`);
  }
  process.exit(1);
}

/** The revealed bytes, from the chosen source; an IPFS source's bytes are checked against the CID. */
async function fetchRevealed(uri: string, from: ContentStore | undefined): Promise<Uint8Array> {
  if (values.file !== undefined) return readFile(values.file);
  const cid = /^ipfs:\/\/([a-zA-Z0-9]+)$/.exec(uri)?.[1];
  if (cid === undefined) {
    throw new WorkerError("VALIDATION_FAILED", `The revealed URI ${uri} is not ipfs://<cid>.`, {
      hints: ["Fetch the weights yourself and pass them with --file."],
    });
  }
  if (from !== undefined) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of from.get(cid)) chunks.push(chunk);
    return Buffer.concat(chunks);
  }
  const response = await fetch(`${values.gateway!.replace(/\/+$/, "")}/ipfs/${cid}`);
  if (!response.ok)
    throw new WorkerError("STORAGE_UNAVAILABLE", `The gateway answered HTTP ${response.status} for ${cid}.`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  // A gateway is not trusted: the bytes must have the CID that was revealed.
  const computed = (await computeCid([bytes])).toString();
  if (computed !== cid) {
    throw new WorkerError("CONTENT_INTEGRITY_FAILED", `The gateway's bytes have CID ${computed}, not ${cid}.`);
  }
  return bytes;
}
