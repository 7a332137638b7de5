import { keccak256, toHex, type Address, type LocalAccount } from "viem";
import { queryDomain, queryTypes } from "../src/chain/typedData.ts";
import type { QueryRequest } from "../src/inference/createQueryService.ts";
import { REFUSED, type Oracle } from "./extractionAttack.ts";

export type CreateApiOracleParameters = {
  /** The worker's base URL, e.g. what `worker.listen()` returns. */
  url: string;
  /** The consumer's key: it signs every query (EIP-712, as the worker's query route expects). */
  account: LocalAccount;
  chainId: number;
  usageSettlement: Address;
  /** The clock the deadlines are set by, in ms. Default Date.now. */
  now?: () => number;
  /** The first nonce. Default: the time in microseconds, so runs against one worker do not collide. */
  firstNonce?: bigint;
};

export type ApiOracle = {
  /** The oracle the attack queries: each call is one signed POST /v1/queries. */
  ask: Oracle;
  /** Queries the worker answered. */
  readonly answered: number;
  /** The worker's problem document when it refused with QUOTA_EXHAUSTED. */
  readonly refusal: Record<string, unknown> | undefined;
};

/**
 * The extraction attack's oracle over HTTP: a consumer that signs each query and POSTs it to a
 * running worker's `/v1/queries`, taking the answered label, until the worker refuses with
 * QUOTA_EXHAUSTED. The epoch comes from `GET /v1/quota/:consumer`, fetched again when the worker
 * says WRONG_EPOCH; any other refusal ends the attack with an error.
 */
export function createApiOracle(parameters: CreateApiOracleParameters): ApiOracle {
  const { account, url } = parameters;
  const now = parameters.now ?? Date.now;
  const domain = queryDomain(parameters.chainId, parameters.usageSettlement);
  let nonce = parameters.firstNonce ?? BigInt(Date.now()) * 1000n;
  let epoch: bigint | undefined;
  let answered = 0;
  let refusal: Record<string, unknown> | undefined;

  async function currentEpoch(): Promise<bigint> {
    const response = await fetch(`${url}/v1/quota/${account.address}`);
    const body = (await response.json()) as { epoch?: string; code?: string };
    if (!response.ok || body.epoch === undefined) {
      throw new Error(`GET /v1/quota refused: ${response.status} ${body.code ?? ""}`);
    }
    return BigInt(body.epoch);
  }

  async function post(input: string): Promise<{ status: number; body: Record<string, unknown> }> {
    epoch ??= await currentEpoch();
    const message = {
      consumer: account.address,
      inputHash: keccak256(toHex(input)),
      nonce: ++nonce,
      epoch,
      deadline: BigInt(Math.floor(now() / 1000)) + 600n,
    };
    const signature = await account.signTypedData({ domain, types: queryTypes, primaryType: "Query", message });
    const request: QueryRequest = {
      consumer: message.consumer,
      input,
      nonce: message.nonce.toString(),
      epoch: message.epoch.toString(),
      deadline: Number(message.deadline),
      signature,
    };
    const response = await fetch(`${url}/v1/queries`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function ask(input: string): Promise<string | typeof REFUSED> {
    let response = await post(input);
    if (response.body.code === "WRONG_EPOCH") {
      epoch = await currentEpoch();
      response = await post(input);
    }
    if (response.status === 200) {
      answered++;
      return (response.body.answer as { label: string }).label;
    }
    if (response.body.code === "QUOTA_EXHAUSTED") {
      refusal = response.body;
      return REFUSED;
    }
    throw new Error(`POST /v1/queries refused: ${response.status} ${String(response.body.code)}`);
  }

  return {
    ask,
    get answered() {
      return answered;
    },
    get refusal() {
      return refusal;
    },
  };
}
