import { keccak256, toHex, zeroAddress, type Address, type LocalAccount } from "viem";
import type { QuotaStatus, SignedQueryRequest } from "../src/api/consumerWire.ts";
import { usageDomain, usageTypes } from "../src/chain/typedData.ts";
import { REFUSED, type Oracle } from "./extractionAttack.ts";

export type CreateApiOracleParameters = {
  /** The worker's base URL, e.g. what `worker.listen()` returns. */
  url: string;
  /** The consumer's key: it signs every query's Usage voucher (EIP-712, as the worker's query route expects). */
  account: LocalAccount;
  chainId: number;
  usageSettlement: Address;
  /** The clock the deadlines are set by, in ms. Default Date.now. */
  now?: () => number;
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
 * QUOTA_EXHAUSTED. The epoch, the worker, the fee and the lane's next total come from `GET
 * /v1/quota`, fetched again when the worker says WRONG_EPOCH; any other refusal ends the attack
 * with an error.
 */
export function createApiOracle(parameters: CreateApiOracleParameters): ApiOracle {
  const { account, url } = parameters;
  const now = parameters.now ?? Date.now;
  const domain = usageDomain(parameters.chainId, parameters.usageSettlement);
  let lane: { epoch: bigint; worker: Address; feePerQuery: bigint; nextTotal: bigint } | undefined;
  let answered = 0;
  let refusal: Record<string, unknown> | undefined;

  async function readLane() {
    const response = await fetch(`${url}/v1/quota?consumer=${account.address}`);
    const body = (await response.json()) as Partial<QuotaStatus> & { code?: string };
    if (!response.ok || body.epoch === undefined) {
      throw new Error(`GET /v1/quota refused: ${response.status} ${body.code ?? ""}`);
    }
    return {
      epoch: BigInt(body.epoch),
      worker: body.worker!,
      feePerQuery: BigInt(body.feePerQuery!),
      nextTotal: BigInt(body.nextTotal!),
    };
  }

  async function post(input: string): Promise<{ status: number; body: Record<string, unknown> }> {
    lane ??= await readLane();
    const message = {
      consumer: account.address,
      key: zeroAddress,
      worker: lane.worker,
      epoch: lane.epoch,
      total: lane.nextTotal++,
      maxFeePerQuery: lane.feePerQuery,
      inputHash: keccak256(toHex(input)),
      deadline: BigInt(Math.floor(now() / 1000)) + 600n,
    };
    const signature = await account.signTypedData({ domain, types: usageTypes, primaryType: "Usage", message });
    const request: SignedQueryRequest = {
      consumer: message.consumer,
      input,
      epoch: message.epoch.toString(),
      total: message.total.toString(),
      maxFeePerQuery: message.maxFeePerQuery.toString(),
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
      lane = await readLane();
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
