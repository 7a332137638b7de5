import { createHash, randomBytes } from "node:crypto";
import type { Address, Hex } from "viem";
import { contributorRewardsAbi } from "../../../deployments/abis.ts";
import { createAttestations } from "../../../test/helpers/attestations.ts";
import type { Wallet } from "../../../test/helpers/system.ts";
import { submissionDomain, submissionTypes } from "../../src/chain/typedData.ts";
import type { SubmissionEnvelope } from "../../src/ingest/submissionEnvelope.ts";
import type { WorkerSystem } from "./createWorkerSystem.ts";

export type Prepared = { data: Uint8Array; envelope: SubmissionEnvelope };

export const sha256 = (data: Uint8Array): Hex => `0x${createHash("sha256").update(data).digest("hex")}`;

let nonce = BigInt(Date.now()) * 1000n;

/** A contributor's client of the worker's submission API, over real HTTP. */
export function createSubmitter(s: WorkerSystem) {
  async function chainNow(): Promise<bigint> {
    return (await s.publicClient.getBlock()).timestamp;
  }

  /** Signs a submission of `data` by `signer` for `contributor`, with on-chain attestations by `attesters`. */
  async function prepare(
    options: {
      data?: Uint8Array;
      contributor?: Wallet;
      signer?: Wallet;
      attesters?: Wallet[];
      onchain?: Hex[];
      deadline?: number;
      chainId?: number;
      domainChainId?: number;
      size?: bigint;
      /** For data too large to hold: the hash of bytes the caller streams itself. */
      dataHash?: Hex;
    } = {},
  ): Promise<Prepared> {
    const data = options.data ?? randomBytes(1000 + Math.floor(Math.random() * 4000));
    const contributor = options.contributor ?? s.accounts.contributor;
    const dataHash = options.dataHash ?? sha256(data);
    const size = options.size ?? BigInt(data.byteLength);
    const onchain =
      options.onchain ??
      (await Promise.all(
        (options.attesters ?? [s.accounts.attester]).map((attester) =>
          createAttestations(s).attest({ attester, recipient: contributor.account.address, data: { dataHash, size } }),
        ),
      ));
    const deadline = options.deadline ?? Number(await chainNow()) + 3600;
    const message = {
      contributor: contributor.account.address,
      dataHash,
      size,
      nonce: ++nonce,
      deadline: BigInt(deadline),
    };
    const signature = await (options.signer ?? contributor).signTypedData({
      domain: submissionDomain(
        options.domainChainId ?? s.deployment.chainId,
        s.deployment.contracts.contributorRewards,
      ),
      types: submissionTypes,
      primaryType: "Submission",
      message,
    });
    return {
      data,
      envelope: {
        contributor: contributor.account.address,
        dataHash,
        size: size.toString(),
        nonce: message.nonce.toString(),
        deadline,
        chainId: options.chainId ?? s.deployment.chainId,
        signature,
        attestations: { onchain, offchain: [] },
      },
    };
  }

  async function post(body: unknown): Promise<{ status: number; json: Record<string, unknown>; type: string | null }> {
    const response = await fetch(`${s.url}/v1/submissions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return {
      status: response.status,
      json: (await response.json()) as Record<string, unknown>,
      type: response.headers.get("content-type"),
    };
  }

  /** Uploads as a stream in small chunks, as a client with a large file would. */
  async function put(id: string, data: Uint8Array) {
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= data.byteLength) return controller.close();
        controller.enqueue(data.subarray(offset, offset + 16 * 1024));
        offset += 16 * 1024;
      },
    });
    const response = await fetch(`${s.url}/v1/submissions/${id}/data`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body,
      duplex: "half",
    } as RequestInit);
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  async function submissionsOf(contributor: Address): Promise<unknown[]> {
    const response = await fetch(`${s.url}/v1/submissions?contributor=${contributor}`);
    return ((await response.json()) as { submissions: unknown[] }).submissions;
  }

  async function recordedContributor(dataHash: Hex): Promise<Address> {
    const c = await s.publicClient.readContract({
      address: s.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "contributionOf",
      args: [dataHash],
    });
    return c.contributor;
  }

  return { chainNow, prepare, post, put, submissionsOf, recordedContributor };
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export function hexBytes(value: Hex): Uint8Array {
  return Uint8Array.from(Buffer.from(value.slice(2), "hex"));
}

export { randomBytes };
export type Submitter = ReturnType<typeof createSubmitter>;
