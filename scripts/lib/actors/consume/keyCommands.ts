import {
  formatEther,
  getAddress,
  getContract,
  isAddress,
  isAddressEqual,
  parseEther,
  zeroAddress,
  type Address,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { policyRegistryAbi, usageSettlementAbi } from "@dao-ai/pipeline-worker/abis";
import {
  BEARER_TOKEN_PREFIX,
  bearerTokenOf,
  keyGrantToWire,
  privateKeyOfBearerToken,
  type KeyList,
  type KeyStatus,
  type RegisterKeyRequest,
} from "@dao-ai/pipeline-worker/consumer-api";
import { keyGrantTypes, usageDomain, type KeyGrantMessage } from "@dao-ai/pipeline-worker/eip712";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { eth, transact, type ConsumeCommands, type ConsumeContext } from "./consumeContext.ts";

const DEFAULT_MAX_QUERIES = 1_000n;
const DEFAULT_LIFETIME = "30d";

const USAGE = `  keys create          make an API key: the consumer signs its grant once (cap, fee, expiry, worker),
                       the workers register it; prints the token once, and a curl line
      --max-queries N  the key's cap over its whole life, all workers together (default ${DEFAULT_MAX_QUERIES})
      --max-fee ETH    the most it pays per query (default: the policy's fee now)
      --expires TIME   how long it lives: 30d, 12h, 90m or seconds (default ${DEFAULT_LIFETIME})
      --worker ADDR    the only worker that may serve it (default: any authorised worker)
  keys list            the consumer's keys the workers know: use, cap, expiry, revocation
  keys revoke KEY      revoke a key on chain (KEY: its address or its ${BEARER_TOKEN_PREFIX} token)`;

function seconds(text: string): bigint {
  const match = /^(\d+)([dhms]?)$/.exec(text);
  if (!match) throw new BaseError(`--expires takes 30d, 12h, 90m or a number of seconds; got "${text}".`);
  const unit = { d: 86_400n, h: 3_600n, m: 60n, s: 1n, "": 1n }[match[2] as "d" | "h" | "m" | "s" | ""];
  return BigInt(match[1]!) * unit;
}

function positive(text: string | undefined, fallback: bigint, flag: string): bigint {
  if (text === undefined) return fallback;
  if (!/^[1-9]\d*$/.test(text)) throw new BaseError(`${flag} must be a positive whole number; got "${text}".`);
  return BigInt(text);
}

function ether(text: string, flag: string): bigint {
  if (!/^\d+(\.\d+)?$/.test(text)) throw new BaseError(`${flag} takes an amount of ETH such as 0.001; got "${text}".`);
  return parseEther(text);
}

/** A key's address, from the address itself or from its bearer token. */
function keyAddressOf(given: string): Address {
  if (given.startsWith(BEARER_TOKEN_PREFIX)) {
    try {
      return privateKeyToAccount(privateKeyOfBearerToken(given)).address;
    } catch (cause) {
      throw new BaseError(`Not a bearer token: ${BEARER_TOKEN_PREFIX} is followed by 64 hex digits.`, { cause });
    }
  }
  if (!isAddress(given)) {
    throw new BaseError(`"${given}" is neither a key's address nor a ${BEARER_TOKEN_PREFIX} token.`, {
      hints: ["`npm run consume -- keys list` shows the addresses of your keys."],
    });
  }
  return getAddress(given);
}

/** The registry's and the settlement contract's views, read through their typed ABIs. */
const registryOf = (context: ConsumeContext) =>
  getContract({
    address: context.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    client: context.publicClient,
  }).read;
const settlementOf = (context: ConsumeContext) =>
  getContract({
    address: context.deployment.contracts.usageSettlement,
    abi: usageSettlementAbi,
    client: context.publicClient,
  }).read;

function needWorkers(context: ConsumeContext) {
  if (context.workers.length === 0) {
    throw new BaseError("No worker to talk to.", {
      hints: ["Name one with --worker-url URL (repeat it for several), or start the local stack with `npm start`."],
    });
  }
}

async function create(context: ConsumeContext) {
  needWorkers(context);
  const { deployment, wallet, options } = context;
  const consumer = wallet.account.address;
  const { usageSettlement } = deployment.contracts;
  const [head, fee, epoch] = await Promise.all([
    context.publicClient.getBlock(),
    registryOf(context).feePerQuery(),
    registryOf(context).currentEpoch(),
  ]);
  let worker: Address = zeroAddress;
  if (options.worker !== undefined) {
    if (!isAddress(options.worker as string))
      throw new BaseError(`--worker ${String(options.worker)} is not an address.`);
    worker = getAddress(options.worker as string);
  }
  const grant: KeyGrantMessage = {
    consumer,
    key: zeroAddress,
    worker,
    maxQueries: positive(options["max-queries"] as string | undefined, DEFAULT_MAX_QUERIES, "--max-queries"),
    maxFeePerQuery: options["max-fee"] === undefined ? fee : ether(options["max-fee"] as string, "--max-fee"),
    expiresAt: head.timestamp + seconds((options.expires as string | undefined) ?? DEFAULT_LIFETIME),
  };
  if (grant.maxFeePerQuery < fee) {
    throw new BaseError(
      `--max-fee ${formatEther(grant.maxFeePerQuery)} ETH is below the policy's fee of ${eth(fee)} a query.`,
      {
        hints: [
          "Workers refuse queries whose fee is above the key's maximum (FEE_ABOVE_MAXIMUM): allow at least the fee.",
        ],
      },
    );
  }
  const quota = await registryOf(context).quotaAt([consumer, epoch]);
  if (quota === 0n) {
    context.say(`Warning: ${consumer} has no quota in epoch ${epoch}: workers will refuse its queries (NO_QUOTA).`);
    context.say(`  Join an access tier first (npm run consume -- tiers), or ask the DAO for a quota.`);
  }

  const privateKey = generatePrivateKey();
  grant.key = privateKeyToAccount(privateKey).address;
  context.say(`Signing the grant of key ${grant.key} as ${consumer} (one signature, no transaction)...`);
  const signature = await wallet.signTypedData({
    domain: usageDomain(deployment.chainId, usageSettlement),
    types: keyGrantTypes,
    primaryType: "KeyGrant",
    message: grant,
  });
  const request: RegisterKeyRequest = {
    signature,
    grant: keyGrantToWire(grant),
  };
  const registered: string[] = [];
  for (const client of context.workers) {
    const answer = await client.post("/v1/keys", request);
    if (answer.status === 200 || answer.status === 201) {
      registered.push(client.url);
      context.say(`  registered at ${client.url}`);
    } else {
      context.say(
        `  ${client.url} refused it: ${answer.body.code ?? answer.status} ${answer.body.detail ?? ""}`.trimEnd(),
      );
    }
  }
  if (registered.length === 0) {
    throw new BaseError("No worker registered the key: it is not usable, and nothing was spent.", {
      hints: [
        "Read each worker's refusal above (docs: pipeline-worker/docs/errors.md), fix it, and create a key again.",
      ],
    });
  }

  const cap = grant.maxQueries * grant.maxFeePerQuery;
  context.say("");
  context.say(
    `Key ${grant.key}: at most ${grant.maxQueries} queries at ${eth(grant.maxFeePerQuery)} each (cap ${eth(cap)}), ` +
      `${worker === zeroAddress ? "at any authorised worker" : `at worker ${worker} only`}, until ${new Date(Number(grant.expiresAt) * 1000).toISOString()}.`,
  );
  context.say("The token below is shown only now and kept nowhere: store it as a secret. Whoever holds it can");
  context.say(`spend up to the cap; revoke it with: npm run consume -- keys revoke ${grant.key}${context.where}`);
  console.log(bearerTokenOf(privateKey));
  context.say("");
  context.say("Query with it (put the token in DAO_AI_KEY first):");
  context.say(
    `  curl -s ${registered[0]}/v1/queries -H "Authorization: Bearer $DAO_AI_KEY" -H "content-type: application/json" -d '{"input":"URGENT: verify your wallet to claim your prize"}'`,
  );
  context.say(
    `or with the openai client: new OpenAI({ baseURL: "${registered[0]}/v1", apiKey: process.env.DAO_AI_KEY })`,
  );
}

async function list(context: ConsumeContext) {
  needWorkers(context);
  const keys = new Map<Address, { key: KeyStatus; at: string[]; usedHere: bigint }>();
  for (const client of context.workers) {
    const answer = await client.get<KeyList>(`/v1/keys?consumer=${context.consumer}`);
    if (answer.status !== 200) {
      throw new BaseError(
        `${client.url} did not list the keys: ${answer.body.code ?? answer.status} ${answer.body.detail ?? ""}`,
      );
    }
    for (const key of answer.body.keys) {
      const known = keys.get(key.key) ?? { key, at: [], usedHere: 0n };
      known.at.push(client.url);
      known.usedHere += BigInt(key.usedHere);
      keys.set(key.key, known);
    }
  }
  if (keys.size === 0) {
    console.log(`No key of ${context.consumer} is registered at ${context.workers.map((w) => w.url).join(", ")}.`);
    console.log(`Create one with: npm run consume -- keys create${context.where}`);
    return;
  }
  const date = (seconds: number | string) => new Date(Number(seconds) * 1000).toISOString();
  console.log(`Keys of ${context.consumer}:`);
  for (const { key, at, usedHere } of keys.values()) {
    const state =
      key.state === "revoked"
        ? `revoked ${date(key.revokedAt!)}`
        : key.state === "active"
          ? `active until ${date(key.expiresAt)}`
          : key.state === "expired"
            ? `expired ${date(key.expiresAt)}`
            : "exhausted (its cap is used up)";
    console.log(`  ${key.key}  ${state}`);
    console.log(
      `    ${key.used} settled on chain, ${usedHere} served by these workers; ${key.remaining} of ${key.maxQueries} left; ` +
        `at most ${eth(BigInt(key.maxFeePerQuery))} a query; ${isAddressEqual(key.worker, zeroAddress) ? "any worker" : `worker ${key.worker} only`}`,
    );
    console.log(`    registered at ${at.join(", ")}`);
  }
}

async function revoke(context: ConsumeContext) {
  const given = context.args[1];
  if (!given) throw new BaseError("Say which key to revoke: its address (keys list shows them) or its token.");
  const key = keyAddressOf(given);
  const { usageSettlement } = context.deployment.contracts;
  const consumer = context.wallet.account.address;
  const [, revokedAt] = await settlementOf(context).keyState([consumer, key]);
  if (revokedAt !== 0n) {
    throw new BaseError(
      `Key ${key} of ${consumer} was already revoked at ${new Date(Number(revokedAt) * 1000).toISOString()}.`,
    );
  }
  await transact(context, `Revoking key ${key} of ${consumer} on chain`, () =>
    context.wallet.writeContract({
      address: usageSettlement,
      abi: usageSettlementAbi,
      functionName: "revokeKey",
      args: [key],
    }),
  );
  const grace = await settlementOf(context).CANCEL_GRACE();
  console.log(`Key ${key} is revoked. Workers refuse it (KEY_REVOKED) as soon as their policy sync sees the event;`);
  console.log(
    `what they served with it before that still settles for ${Number(grace) / 60} minutes, then nothing more can be charged to it.`,
  );
}

async function keys(context: ConsumeContext) {
  const run = { create, list, revoke }[context.args[0] as "create" | "list" | "revoke"];
  if (!run) {
    throw new BaseError(context.args[0] ? `Unknown keys command "${context.args[0]}".` : "Say what to do with keys.", {
      hints: ["Use keys create, keys list or keys revoke KEY (npm run consume -- --help)."],
    });
  }
  await run(context);
}

export const keyCommands: ConsumeCommands = { usage: USAGE, commands: { keys } };
