import type { SubmissionTransport } from "@dao-ai/pipeline-worker/contribute";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { Eip712Spec } from "@dao-ai/pipeline-worker/policy-api";
import type { BegunSubmission, SubmissionStatus } from "@dao-ai/pipeline-worker/submission-api";

/** An answer of the worker's API: the status and the parsed body (a problem+json on errors). */
export type WorkerResponse<T = Record<string, unknown>> = {
  status: number;
  body: T & { code?: string; detail?: string };
};

/** A thin HTTP client for the pipeline worker's API, for scripts: it never throws on an error status. */
export function createWorkerClient(baseUrl: string) {
  async function request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<WorkerResponse<T>> {
    const init: RequestInit = { method, signal: AbortSignal.timeout(30_000) };
    if (body instanceof Uint8Array) {
      init.body = body as Uint8Array<ArrayBuffer>;
      init.headers = { "content-type": "application/octet-stream", ...headers };
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "content-type": "application/json", ...headers };
    }
    let response: Response;
    try {
      response = await fetch(new URL(path, baseUrl), init);
    } catch (cause) {
      throw new BaseError(`The worker at ${baseUrl} does not answer ${method} ${path}.`, {
        cause,
        hints: ["Is the stack running? Start it with `npm start`."],
      });
    }
    const text = await response.text();
    let parsed: unknown = {};
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { detail: text };
      }
    }
    return { status: response.status, body: parsed as WorkerResponse<T>["body"] };
  }

  return {
    url: baseUrl,
    get: <T = Record<string, unknown>>(path: string) => request<T>("GET", path),
    /** `headers` carries, say, a bearer key's `authorization`. */
    post: <T = Record<string, unknown>>(path: string, body: unknown, headers: Record<string, string> = {}) =>
      request<T>("POST", path, body, headers),
    /** An upload; `headers` carries its `authorization` (the submission's upload token). */
    put: <T = Record<string, unknown>>(path: string, body: Uint8Array, headers: Record<string, string> = {}) =>
      request<T>("PUT", path, body, headers),
  };
}

export type WorkerClient = ReturnType<typeof createWorkerClient>;

/** The worker refused a request: its answer, with the problem's code, for callers that check it. */
export class WorkerRefusal extends BaseError {
  override name = "WorkerRefusal";
  readonly response: WorkerResponse<unknown>;
  constructor(what: string, response: WorkerResponse<unknown>) {
    super(
      `The worker refused ${what}: ${response.status} ${response.body.code ?? ""} ${response.body.detail ?? ""}`.trim(),
    );
    this.response = response;
  }
}

/** The worker's submission routes for the shared `submitContribution`, each refusal thrown as a WorkerRefusal. */
export function submissionTransport(worker: WorkerClient): SubmissionTransport {
  const ok = <T>(what: string, response: WorkerResponse<T>): T => {
    if (response.status < 200 || response.status > 299) throw new WorkerRefusal(what, response);
    return response.body;
  };
  return {
    eip712: async () => ok("GET /v1/eip712", await worker.get<Eip712Spec>("/v1/eip712")),
    beginSubmission: async (envelope) =>
      ok("the submission", await worker.post<BegunSubmission>("/v1/submissions", envelope)),
    uploadSubmission: async (begun, data) =>
      ok(
        "the upload",
        await worker.put<SubmissionStatus>(
          `/v1/submissions/${begun.id}/data`,
          new Uint8Array(await data.arrayBuffer()),
          {
            authorization: `Bearer ${begun.uploadToken}`,
          },
        ),
      ),
    submission: async (id) =>
      ok(`GET /v1/submissions/${id}`, await worker.get<SubmissionStatus>(`/v1/submissions/${id}`)),
  };
}
