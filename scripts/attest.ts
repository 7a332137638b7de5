// An attester's commands: attest a contributor's data on EAS, on chain or off chain, and revoke.
//
//   npm run attest -- onchain  --recipient ADDR --file DATA --field license=CC-BY-4.0 --field provenance=...
//   npm run attest -- offchain --recipient ADDR --data-hash 0x... --size N ... [--out FILE]
//   npm run attest -- revoke UID | FILE.json
//   npm run attest -- requirement
//
// On the local stack (`npm start`) the chain and the manifest come from the data directory and the
// attester is a development account (--account N, default the trusted attester #5). On another
// chain pass --rpc-url and --manifest, and the attester's key in ATTESTER_PRIVATE_KEY (never a
// flag, so it stays out of shell history). The same module signs here and in the UI's Attest page.
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  createPublicClient,
  createWalletClient,
  getAddress,
  http,
  isAddress,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { policyRegistryAbi } from "@dao-ai/pipeline-worker/abis";
import {
  attestOnchain,
  BaseError,
  dataSchemaFields,
  encodeDataAttestation,
  inspectOffchainAttestation,
  offchainAttestationJson,
  parseOffchainAttestation,
  readSchemaDefinition,
  revokeOffchain,
  revokeOnchain,
  signOffchainAttestation,
  type AttesterWallet,
} from "@dao-ai/pipeline-worker/attestations";
import type { Deployment } from "./lib/deploy/deploySystem.ts";
import { DEV_ROLES } from "./lib/stack/devAccounts.ts";
import { readManifest } from "./lib/deploy/manifest.ts";
import { DEFAULT_DATA_DIR } from "./lib/stack/stackFiles.ts";
import { runChainCli } from "./lib/cli/runChainCli.ts";
import { chainAt } from "./lib/cli/chainAt.ts";
import { cliPrivateKey } from "./lib/cli/cliPrivateKey.ts";
import { locateDeployment } from "./lib/cli/locateDeployment.ts";

const USAGE = `Usage: npm run attest -- <command> [options]

Commands:
  onchain       attest a contributor's data on EAS (a transaction); prints the attestation's UID
  offchain      sign an off-chain EAS attestation (EIP-712, no transaction); writes its JSON,
                which the contributor attaches to the submission
  revoke UID    revoke an on-chain attestation you made
  revoke FILE   revoke the off-chain attestation in FILE (recorded on EAS: a transaction)
  requirement   what the policy requires: the schema, its fields, the trusted attesters

What is attested (onchain, offchain):
  --recipient ADDR       the contributor the data is attested to
  --file PATH            the data itself: its SHA-256 and size are attested
  --data-hash HEX        or the data's SHA-256, as the Contribute page shows it...
  --size BYTES           ...and its size in bytes
  --field NAME=VALUE     a field of the policy's schema after dataHash and size, e.g.
                         --field license=CC-BY-4.0 --field "provenance=scraped from example.org"
  --expires SECONDS      the attestation expires this long after now (default: never)
  --out FILE             offchain: write the JSON to FILE (default: standard output)
  --offchain             revoke: UID is an off-chain attestation's, not an on-chain one

Where and as whom:
  --account N            on the local stack: attest as development account N (default ${DEV_ROLES.attester})
  --data-dir DIR         the local stack's data directory (default .data)
  --rpc-url URL          another chain: its JSON-RPC endpoint (with --manifest)
  --manifest FILE        another chain: its deployment manifest

On another chain the attester's key comes from ATTESTER_PRIVATE_KEY (it is used on the local stack
too when set).`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    recipient: { type: "string" },
    file: { type: "string" },
    "data-hash": { type: "string" },
    size: { type: "string" },
    field: { type: "string", multiple: true, default: [] },
    expires: { type: "string" },
    out: { type: "string" },
    offchain: { type: "boolean", default: false },
    account: { type: "string" },
    "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
    "rpc-url": { type: "string" },
    manifest: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

type Context = {
  rpcUrl: string;
  deployment: Deployment;
  local: boolean;
  publicClient: PublicClient;
  wallet: AttesterWallet;
};

/** Progress and results for a person go to standard error, so standard output carries only the JSON. */
const say = (line: string) => console.error(line);

function loadContext(): Context {
  const { remote, rpcUrl, manifestFile } = locateDeployment({
    rpcUrl: values["rpc-url"],
    manifest: values.manifest,
    dataDir: values["data-dir"],
  });
  const deployment = readManifest(manifestFile);
  const chain = chainAt(deployment.chainId, rpcUrl);
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl) }) as PublicClient;
  const wallet = createWalletClient({
    account: privateKeyToAccount(attesterKey(!remote)),
    chain,
    transport: http(rpcUrl),
  });
  return { rpcUrl, deployment, local: !remote, publicClient, wallet };
}

/** ATTESTER_PRIVATE_KEY when set; on the local stack otherwise a development account's key. */
function attesterKey(local: boolean): Hex {
  return cliPrivateKey({
    variable: "ATTESTER_PRIVATE_KEY",
    local,
    account: values.account,
    devAccount: DEV_ROLES.attester,
    needs: "Export the private key of an attester the policy trusts as ATTESTER_PRIVATE_KEY.",
  });
}

async function readRequirement(context: Context) {
  const requirement = await context.publicClient.readContract({
    address: context.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName: "attestationRequirement",
  });
  if (requirement.minAttestations === 0) {
    throw new BaseError("The policy sets no attestation requirement yet: no contribution can be recorded.", {
      hints: ["A DAO vote sets it (setAttestationRequirement)."],
    });
  }
  const definition = await readSchemaDefinition(
    context.publicClient,
    context.deployment.contracts.schemaRegistry,
    requirement.schemaUID,
  );
  return { ...requirement, definition };
}

type Requirement = Awaited<ReturnType<typeof readRequirement>>;

function warnIfUntrusted(context: Context, requirement: Requirement) {
  const me = context.wallet.account.address;
  if (!requirement.attesters.some((a) => getAddress(a) === me)) {
    say(`Warning: ${me} is not one of the policy's trusted attesters: the worker will refuse this attestation`);
    say("  until a DAO vote trusts it (setAttestationRequirement).");
  }
}

/** The data hash and size: of --file, hashed here as the worker hashes it, or as given. */
async function dataOf(): Promise<{ dataHash: Hex; size: bigint }> {
  if (values.file !== undefined) {
    if (values["data-hash"] !== undefined || values.size !== undefined) {
      throw new BaseError("Give either --file, or --data-hash and --size, not both.");
    }
    const hash = createHash("sha256");
    let size = 0n;
    try {
      for await (const chunk of createReadStream(values.file) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += BigInt(chunk.byteLength);
      }
    } catch (cause) {
      throw new BaseError(`Cannot read ${values.file}.`, { cause });
    }
    return { dataHash: `0x${hash.digest("hex")}`, size };
  }
  const dataHash = values["data-hash"];
  if (dataHash === undefined || values.size === undefined) {
    throw new BaseError("Say what data is attested: --file PATH, or --data-hash and --size.", {
      hints: ["The contributor's Contribute page shows the data's SHA-256 and size."],
    });
  }
  if (!/^\d+$/.test(values.size)) throw new BaseError(`--size must be a number of bytes; got ${values.size}.`);
  return { dataHash: dataHash as Hex, size: BigInt(values.size) };
}

function fieldsOf(): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const given of values.field!) {
    const at = given.indexOf("=");
    if (at <= 0) throw new BaseError(`--field takes NAME=VALUE; got "${given}".`);
    fields[given.slice(0, at)] = given.slice(at + 1);
  }
  return fields;
}

function recipientOf(): Address {
  const recipient = values.recipient;
  if (!recipient || !isAddress(recipient)) {
    throw new BaseError(recipient ? `--recipient ${recipient} is not an address.` : "--recipient is required.", {
      hints: ["Give the contributor's address: the attestation is to them, and only they can submit with it."],
    });
  }
  return getAddress(recipient);
}

async function expirationTime(context: Context): Promise<bigint> {
  if (values.expires === undefined) return 0n;
  if (!/^\d+$/.test(values.expires))
    throw new BaseError(`--expires must be a number of seconds; got ${values.expires}.`);
  return (await context.publicClient.getBlock()).timestamp + BigInt(values.expires);
}

/** What both kinds attest: the data, to the recipient, in the policy's schema. */
async function attestation(context: Context) {
  const requirement = await readRequirement(context);
  const recipient = recipientOf();
  const { dataHash, size } = await dataOf();
  const data = encodeDataAttestation({ definition: requirement.definition, dataHash, size, fields: fieldsOf() });
  warnIfUntrusted(context, requirement);
  say(`Attesting SHA-256 ${dataHash}, ${size} bytes, to ${recipient}`);
  say(`  as ${context.wallet.account.address}, schema ${requirement.schemaUID} (${requirement.definition})`);
  return {
    wallet: context.wallet,
    publicClient: context.publicClient,
    eas: context.deployment.contracts.eas,
    schema: requirement.schemaUID,
    recipient,
    data,
    expirationTime: await expirationTime(context),
  };
}

async function onchain(context: Context) {
  const { uid, transactionHash } = await attestOnchain(await attestation(context));
  say(`Attested on chain in transaction ${transactionHash}.`);
  say("Give the contributor this UID; they add it to their submission:");
  console.log(uid);
}

async function offchain(context: Context) {
  const signed = await signOffchainAttestation(await attestation(context));
  const json = offchainAttestationJson(signed);
  say(`Signed off-chain attestation ${signed.attestation.uid} (no transaction).`);
  if (values.out) {
    writeFileSync(values.out, json);
    say(`Written to ${values.out}: give the contributor this file; they attach it to their submission.`);
    say(`Revoke it later with: npm run attest -- revoke ${values.out}${where(context)}`);
  } else {
    process.stdout.write(json);
  }
}

async function revoke(context: Context) {
  const target = positionals[1];
  if (!target) {
    throw new BaseError("Say what to revoke: an attestation's UID, or the file of an off-chain attestation.");
  }
  const eas = context.deployment.contracts.eas;
  const { publicClient, wallet } = context;
  if (/^0x[0-9a-fA-F]{64}$/.test(target)) {
    const uid = target as Hex;
    if (values.offchain) {
      const { transactionHash } = await revokeOffchain({ wallet, publicClient, eas, uid });
      say(`Revoked off-chain attestation ${uid} in transaction ${transactionHash}.`);
      return;
    }
    const { transactionHash } = await revokeOnchain({ wallet, publicClient, eas, uid });
    say(`Revoked on-chain attestation ${uid} in transaction ${transactionHash}.`);
    return;
  }
  let text: string;
  try {
    text = readFileSync(target, "utf8");
  } catch (cause) {
    throw new BaseError(`${target} is neither a UID nor a readable file.`, { cause });
  }
  const inspected = await inspectOffchainAttestation(parseOffchainAttestation(text));
  if (inspected.attester !== wallet.account.address) {
    throw new BaseError(`The attestation in ${target} is by ${inspected.attester}, not ${wallet.account.address}.`, {
      hints: ["Only its attester can revoke it: use that attester's key."],
    });
  }
  const { transactionHash } = await revokeOffchain({ wallet, publicClient, eas, uid: inspected.uid });
  say(`Revoked off-chain attestation ${inspected.uid} in transaction ${transactionHash}.`);
}

async function requirement(context: Context) {
  const r = await readRequirement(context);
  const me = context.wallet.account.address;
  console.log(`The policy needs ${r.minAttestations} attestation(s) from distinct trusted attesters:`);
  for (const a of r.attesters) console.log(`  ${a}${getAddress(a) === me ? "  (you)" : ""}`);
  console.log(`Schema ${r.schemaUID}: ${r.definition}`);
  const fields = dataSchemaFields(r.definition);
  if (fields.length > 0)
    console.log(`Fields to give with --field: ${fields.map((f) => `${f.name} (${f.type})`).join(", ")}`);
  console.log(r.maxAge === 0n ? "No maximum age." : `An attestation counts for ${r.maxAge} s after it is made.`);
  if (!r.attesters.some((a) => getAddress(a) === me)) console.log(`You (${me}) are not a trusted attester.`);
}

function where(context: Context): string {
  if (context.local) return values["data-dir"] === DEFAULT_DATA_DIR ? "" : ` --data-dir ${values["data-dir"]}`;
  return ` --rpc-url ${context.rpcUrl} --manifest ${values.manifest}`;
}

runChainCli({
  usage: USAGE,
  help: values.help,
  command: positionals[0],
  commands: { onchain, offchain, revoke, requirement },
  loadContext,
});
