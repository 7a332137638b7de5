import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";

/** What came back for one request: the status, the headers and the raw body bytes. */
export type HostileResponse = {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
};

export type HostileRequest = {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string | undefined;
};

/**
 * An HTTP client that sends exactly what it is given: any method token, any path that HTTP/1.1
 * can carry, any header, any bytes as the body (not necessarily UTF-8, not necessarily JSON).
 * `fetch` refuses some of these on the client side, so hostile tests use this instead. Requests
 * time out rather than hang: a service that never answers fails the test that sent it.
 */
export function createHostileClient(baseUrl: string, options: { timeoutMs?: number } = {}) {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const timeoutMs = options.timeoutMs ?? 15_000;

  function send(input: HostileRequest): Promise<HostileResponse> {
    const body = typeof input.body === "string" ? Buffer.from(input.body, "utf8") : input.body;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: input.method,
          path: input.path,
          agent,
          headers: { ...(body === undefined ? {} : { "content-length": String(body.byteLength) }), ...input.headers },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${input.method} ${input.path}: no answer in ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end(body);
    });
  }

  return {
    send,
    get: (path: string) => send({ method: "GET", path }),
    /** A JSON route with a body given as text or bytes (possibly not JSON at all). */
    post: (path: string, body: Uint8Array | string, contentType = "application/json") =>
      send({ method: "POST", path, headers: { "content-type": contentType }, body }),
    close: () => agent.destroy(),
  };
}

export type HostileClient = ReturnType<typeof createHostileClient>;

/** What a raw exchange saw: the parsed answer if one came, and whether the server closed the socket. */
export type RawExchange = {
  response: HostileResponse | undefined;
  /** Every byte the server sent. */
  raw: Buffer;
  closedByServer: boolean;
};

/**
 * Writes `bytes` to a fresh TCP connection, exactly as given (a malformed request line, a lying
 * Content-Length, half a body), then either half-closes the connection (`end: true`, the client
 * is gone) or keeps it open, and collects whatever the server answers until it closes the socket,
 * sends one whole response (or, with `untilClosed`, closes the socket after it), or `waitMs`
 * passes. Given several parts, it writes them `gapMs` apart, as a slow client would.
 */
export function exchangeRaw(
  baseUrl: string,
  bytes: Uint8Array | string | readonly (Uint8Array | string)[],
  options: { end?: boolean; destroy?: boolean; waitMs?: number; gapMs?: number; untilClosed?: boolean } = {},
): Promise<RawExchange> {
  const url = new URL(baseUrl);
  const waitMs = options.waitMs ?? 2_000;
  const parts = (Array.isArray(bytes) ? bytes : [bytes]) as readonly (Uint8Array | string)[];
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const chunks: Buffer[] = [];
    let done = false;
    let writer: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(writer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      resolve({ response: parseResponse(raw), raw, closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (!options.untilClosed && parseResponse(Buffer.concat(chunks))) finish(false);
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    const write = (index: number) => {
      const part = parts[index]!;
      socket.write(typeof part === "string" ? Buffer.from(part, "latin1") : part);
      if (index + 1 < parts.length) {
        writer = setTimeout(() => write(index + 1), options.gapMs ?? 0);
      } else if (options.destroy) {
        // The client vanishes mid-request: nothing more is read from or written to this socket.
        setTimeout(() => finish(false), 50);
      } else if (options.end) socket.end();
    };
    socket.on("connect", () => write(0));
  });
}

/** Parses one complete HTTP/1.1 response with a Content-Length; undefined until it is whole. */
function parseResponse(raw: Buffer): HostileResponse | undefined {
  const headerEnd = raw.indexOf("\r\n\r\n");
  if (headerEnd < 0) return undefined;
  const [statusLine, ...headerLines] = raw.subarray(0, headerEnd).toString("latin1").split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "");
  if (!status) return undefined;
  const headers: IncomingHttpHeaders = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers["content-length"] ?? 0);
  const body = raw.subarray(headerEnd + 4);
  if (body.byteLength < length) return undefined;
  return { status: Number(status[1]), headers, body: body.subarray(0, length) };
}
