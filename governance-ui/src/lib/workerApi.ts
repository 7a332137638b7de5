import type { Address, Hex, TypedDataDomain } from "viem";
import type { SubmissionStatus } from "@dao-ai/pipeline-worker/submissionStatus";
import { BaseError } from "../../../pipeline-worker/src/internal/BaseError.ts";

/** An RFC 9457 problem, as the worker answers every error (with a stable `code`). */
export type Problem = {
  type?: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  retryable?: boolean;
  hints?: string[];
  [extension: string]: unknown;
};

/** The worker refused a request; `problem.code` says why, stably. */
export class WorkerProblemError extends BaseError {
  override name = "WorkerProblemError";
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title, { hints: problem.hints ?? [], retryable: problem.retryable ?? false });
    this.problem = problem;
  }
}

/** The answer to an accepted submission: its status, and the capability to upload its data (shown once). */
export type BegunSubmission = SubmissionStatus & { uploadToken: string };

export type SubmissionEnvelope = {
  contributor: Address;
  dataHash: Hex;
  size: string;
  nonce: string;
  deadline: number;
  chainId: number;
  signature: Hex;
  attestations: { onchain: Hex[]; offchain: unknown[] };
};

type TypedDataSpec = {
  domain: TypedDataDomain;
  types: Record<string, { name: string; type: string }[]>;
  primaryType: string;
};
export type Eip712Spec = { submission: TypedDataSpec; usage: TypedDataSpec; keyGrant: TypedDataSpec };

/**
 * The pipeline worker's HTTP API, as the app uses it. Every non-2xx answer becomes a
 * WorkerProblemError carrying the worker's problem (a worker that is down becomes WORKER_UNREACHABLE).
 */
export function createWorkerApi(baseUrl: string) {
  async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${baseUrl}${path}`, init);
    } catch (cause) {
      throw new WorkerProblemError({
        title: "The worker is unreachable",
        status: 0,
        code: "WORKER_UNREACHABLE",
        detail: `The worker did not answer (${cause instanceof Error ? cause.message : String(cause)}).`,
        hints: ["Check that the pipeline worker is running and that the UI server proxies /worker to it."],
      });
    }
    const text = await response.text();
    const body: unknown = text === "" ? undefined : safeJson(text);
    if (!response.ok) {
      const problem = body as Partial<Problem> | undefined;
      throw new WorkerProblemError({
        title: problem?.title ?? response.statusText,
        status: response.status,
        code: problem?.code ?? (response.status === 404 ? "NOT_FOUND" : `HTTP_${response.status}`),
        detail: problem?.detail ?? (typeof problem?.message === "string" ? problem.message : response.statusText),
        ...(problem?.hints ? { hints: problem.hints } : {}),
        ...(problem ?? {}),
      } as Problem);
    }
    return body as T;
  }

  const json = (method: string, value: unknown): RequestInit => ({
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(value),
  });

  return {
    baseUrl,
    /** For route groups kept in modules of their own (consumeApi.ts): the same errors and parsing. */
    request,
    json,
    policy: () => request<Record<string, unknown>>("/v1/policy"),
    eip712: () => request<Eip712Spec>("/v1/eip712"),
    beginSubmission: (envelope: SubmissionEnvelope) =>
      request<BegunSubmission>("/v1/submissions", json("POST", envelope)),
    /** Uploads the data with the upload token that `beginSubmission` returned: only its holder can. */
    uploadSubmission: (begun: Pick<BegunSubmission, "id" | "uploadToken">, data: Blob) =>
      request<SubmissionStatus>(`/v1/submissions/${begun.id}/data`, {
        method: "PUT",
        headers: { "content-type": "application/octet-stream", authorization: `Bearer ${begun.uploadToken}` },
        body: data,
      }),
    submission: (id: Hex) => request<SubmissionStatus>(`/v1/submissions/${id}`),
    submissions: (contributor: Address) =>
      request<{ submissions: SubmissionStatus[] }>(`/v1/submissions?contributor=${contributor}`),
  };
}

export type WorkerApi = ReturnType<typeof createWorkerApi>;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}
