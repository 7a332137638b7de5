import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { connect } from "node:net";
import type { Address, Hex } from "viem";
import { contributorRewardsAbi } from "../../../deployments/abis.ts";
import { createAttestations } from "../../../test/helpers/attestations.ts";
import type { Wallet } from "../../../test/helpers/system.ts";
import { submissionDomain, submissionTypes } from "../../src/chain/typedData.ts";
import type { SubmissionEnvelope } from "../../src/api/submissionWire.ts";
import type { WorkerSystem } from "./createWorkerSystem.ts";

export type Prepared = { data: Uint8Array; envelope: SubmissionEnvelope };

/** Random bytes to letters, about one in seven a space: text that no two calls repeat. */
const LETTERS = Buffer.from(Array.from({ length: 256 }, (_, i) => (i % 7 === 0 ? 32 : 97 + (i % 26))));

function randomText(length: number, random: (size: number) => Buffer = randomBytes): Buffer {
  const text = random(length);
  for (let i = 0; i < length; i++) text[i] = LETTERS[text[i]!]!;
  // Letters at both ends, so that no record is blank after white space is trimmed.
  text[0] = 97;
  text[length - 1] = 122;
  return text;
}

function trainingLine(textLength: number, label: "legit" | "scam", random?: (size: number) => Buffer): Buffer {
  return Buffer.concat([
    Buffer.from('{"text":"'),
    randomText(textLength, random),
    Buffer.from(`","label":"${label}"}\n`),
  ]);
}

/** The bytes of a JSON Lines record besides its text. */
const lineOverhead = (label: string) => `{"text":"","label":"${label}"}\n`.length;

/**
 * Valid training data (JSON Lines of {text, label}, docs/model.md) of exactly `bytes` bytes (at
 * least one short record), whose records are random text: new to any pool, so that it earns its
 * records in full. Records are about a twentieth of the data each (8,000 characters at most).
 */
export function trainingData(bytes = 1000 + Math.floor(Math.random() * 4000)): Uint8Array {
  const recordText = Math.min(8000, Math.max(40, Math.floor(bytes / 20)));
  const lines: Buffer[] = [];
  let length = 0;
  while (length < bytes) {
    const label = lines.length % 2 === 0 ? "legit" : "scam";
    const remaining = bytes - length - lineOverhead(label);
    const line = trainingLine(Math.max(8, remaining <= 2 * recordText ? remaining : recordText), label);
    lines.push(line);
    length += line.byteLength;
  }
  return Buffer.concat(lines);
}

/**
 * `size` bytes of valid training data (a multiple of 8 KiB), the same every time, made as they are
 * sent in chunks of `chunk` bytes (a multiple of 8 KiB) and never held whole: 8 KiB records of
 * random text from an AES-CTR keystream, each chunk built in one buffer so that making the data
 * leaves little garbage beside what the worker is measured on.
 */
export function* trainingDataChunks(size: number, chunk = 1024 * 1024): Generator<Uint8Array> {
  const LINE = 8192;
  const keystream = createCipheriv("aes-256-ctr", Buffer.alloc(32, 7), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(chunk);
  for (let sent = 0; sent < size; sent += chunk) {
    const bytes = Math.min(chunk, size - sent);
    const out = keystream.update(zeros.subarray(0, bytes));
    for (let at = 0; at < bytes; at += LINE) {
      const label = (sent + at) % (2 * LINE) === 0 ? "legit" : "scam";
      const prefix = '{"text":"';
      const suffix = `","label":"${label}"}\n`;
      const textEnd = at + LINE - suffix.length;
      out.write(prefix, at, "latin1");
      for (let i = at + prefix.length; i < textEnd; i++) out[i] = LETTERS[out[i]!]!;
      out[at + prefix.length] = 97;
      out[textEnd - 1] = 122;
      out.write(suffix, textEnd, "latin1");
    }
    yield out;
  }
}

export const sha256 = (data: Uint8Array): Hex => `0x${createHash("sha256").update(data).digest("hex")}`;

let nonce = BigInt(Date.now()) * 1000n;

/** Who sends an upload: the contributor with its capability (the default), none, or another token. */
export type UploadAs = { token?: string | null };

/** A contributor's client of the worker's submission API, over real HTTP. */
export function createSubmitter(s: WorkerSystem) {
  /**
   * The upload capability each accepted POST returned, by submission id: only the client that
   * began a submission holds it, as a contributor's own client would.
   */
  const uploadTokens = new Map<string, string>();

  /** The headers of an upload of submission `id`, with its capability unless `as` says otherwise. */
  function uploadHeaders(id: string, as: UploadAs = {}): Record<string, string> {
    const token = as.token === undefined ? uploadTokens.get(id) : as.token;
    return {
      "content-type": "application/octet-stream",
      ...(token === null || token === undefined ? {} : { authorization: `Bearer ${token}` }),
    };
  }
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
    const data = options.data ?? trainingData();
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
    const json = (await response.json()) as Record<string, unknown>;
    if (response.status === 201 && typeof json.uploadToken === "string") {
      uploadTokens.set(json.id as string, json.uploadToken);
    }
    return { status: response.status, json, type: response.headers.get("content-type") };
  }

  /**
   * A submission of `data` (random bytes by default) signed, POSTed and accepted, awaiting its data:
   * its id, the data and envelope signed for, and the upload capability the POST returned.
   */
  async function begin(data?: Uint8Array) {
    const { data: signed, envelope } = await prepare(data ? { data } : {});
    const begun = await post(envelope);
    if (begun.status !== 201) throw new Error(`submission refused: ${JSON.stringify(begun.json)}`);
    return {
      id: begun.json.id as string,
      data: signed,
      envelope,
      dataHash: envelope.dataHash,
      token: begun.json.uploadToken as string,
    };
  }

  /** Uploads as a stream in small chunks, as a client with a large file would. */
  async function put(id: string, data: Uint8Array, as: UploadAs = {}) {
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
      headers: uploadHeaders(id, as),
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

  /**
   * Starts an upload over a raw connection and sends only its headers and `first` bytes; the
   * caller sends the rest when it likes. `answer` resolves when the worker answers (or closes).
   */
  function openUpload(id: string, size: number, first: Uint8Array, as: UploadAs = {}) {
    const url = new URL(s.url);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const head =
      `PUT /v1/submissions/${id}/data HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n` +
      Object.entries(uploadHeaders(id, as))
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("") +
      "\r\n";
    const chunks: Buffer[] = [];
    const answer = new Promise<RawAnswer | undefined>((resolve) => {
      const finish = () => resolve(parseAnswer(Buffer.concat(chunks)));
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        const parsed = parseAnswer(Buffer.concat(chunks));
        if (parsed) resolve(parsed);
      });
      socket.on("close", finish);
      socket.on("error", finish);
    });
    socket.write(Buffer.concat([Buffer.from(head, "latin1"), first]));
    return {
      answer,
      /** Sends more of the body; a socket the worker closed takes nothing, and that is not an error. */
      send(bytes: Uint8Array) {
        if (!socket.destroyed && socket.writable) socket.write(bytes);
      },
      /** Destroys the connection, or with "end" half-closes it, as a client that stopped sending would. */
      close(how: "destroy" | "end" = "destroy") {
        if (how === "end") socket.end();
        else socket.destroy();
      },
    };
  }

  return {
    chainNow,
    prepare,
    post,
    begin,
    put,
    openUpload,
    submissionsOf,
    recordedContributor,
    /** The upload capability the worker returned for submission `id`, if this client began it. */
    uploadToken: (id: string) => uploadTokens.get(id),
  };
}

/** One whole HTTP/1.1 answer with a Content-Length, parsed; undefined until it is whole. */
function parseAnswer(raw: Buffer): RawAnswer | undefined {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = raw.subarray(0, end).toString("latin1");
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
  const body = raw.subarray(end + 4);
  if (body.byteLength < length) return undefined;
  const headers: Record<string, string> = {};
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(head.slice(9, 12)),
    headers,
    json: JSON.parse(body.subarray(0, length).toString("utf8") || "{}") as Record<string, unknown>,
  };
}

/** An answer read off a raw connection. */
export type RawAnswer = { status: number; headers: Record<string, string>; json: Record<string, unknown> };

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
