import { BaseError } from "@dao-ai/pipeline-worker/errors";

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
