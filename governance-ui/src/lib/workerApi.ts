import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { Eip712Spec, PolicySnapshotWire } from "@dao-ai/pipeline-worker/policy-api";
import { problemSchema, type Problem } from "@dao-ai/pipeline-worker/problem";
import type {
  BegunSubmission,
  SubmissionEnvelope,
  SubmissionList,
  SubmissionStatus,
} from "@dao-ai/pipeline-worker/submission-api";
import type { Address, Hex } from "viem";

export type { Problem };

/** The worker refused a request; `problem.code` says why, stably. */
export class WorkerProblemError extends BaseError {
  override name = "WorkerProblemError";
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title, { hints: problem.hints ?? [], retryable: problem.retryable });
    this.problem = problem;
  }
}

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
        type: "about:blank",
        title: "The worker is unreachable",
        status: 0,
        code: "WORKER_UNREACHABLE",
        detail: `The worker did not answer (${cause instanceof Error ? cause.message : String(cause)}).`,
        retryable: true,
        hints: ["Check that the pipeline worker is running and that the UI server proxies /worker to it."],
      });
    }
    const text = await response.text();
    const body: unknown = text === "" ? undefined : safeJson(text);
    if (!response.ok) throw new WorkerProblemError(problemOf(response, body));
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
    policy: () => request<PolicySnapshotWire>("/v1/policy"),
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
    submissions: (contributor: Address) => request<SubmissionList>(`/v1/submissions?contributor=${contributor}`),
  };
}

export type WorkerApi = ReturnType<typeof createWorkerApi>;

/**
 * The worker's problem, or one made from whatever answered instead (the UI server's proxy, a
 * gateway's page), so that every refusal reads the same.
 */
function problemOf(response: Response, body: unknown): Problem {
  const parsed = problemSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const partial = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const text = (key: string) => (typeof partial[key] === "string" ? partial[key] : undefined);
  return {
    ...partial,
    type: text("type") ?? "about:blank",
    title: text("title") ?? response.statusText,
    status: response.status,
    code: text("code") ?? (response.status === 404 ? "NOT_FOUND" : `HTTP_${response.status}`),
    detail: text("detail") ?? text("message") ?? response.statusText,
    retryable: partial.retryable === true,
    ...(Array.isArray(partial.hints) ? { hints: partial.hints.filter((hint) => typeof hint === "string") } : {}),
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}
