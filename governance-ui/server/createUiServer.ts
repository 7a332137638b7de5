import type { AddressInfo } from "node:net";
import path from "node:path";
import fastifyCompress from "@fastify/compress";
import fastifyHttpProxy from "@fastify/http-proxy";
import fastifyStatic from "@fastify/static";
import { PROBLEM_CONTENT_TYPE, type Problem } from "@dao-ai/pipeline-worker/problem";
import Fastify, { type FastifyInstance } from "fastify";
import type { RuntimeConfig } from "../src/lib/RuntimeConfig.ts";

export type CreateUiServerParameters = {
  /** The built app (`vite build` output). */
  distDir: string;
  /** Served as `/config.json`. Its rpcUrl and workerUrl should be `/rpc` and `/worker` to use the proxies. */
  runtimeConfig: RuntimeConfig;
  /** Where `/rpc` is proxied to: the chain's JSON-RPC endpoint. */
  rpcUpstream: string;
  /** Where `/worker/*` is proxied to: the pipeline worker's API; omit when there is none. */
  workerUpstream?: string | undefined;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
};

export type UiServer = { url: string; close(): Promise<void> };

// Vite fingerprints everything under /assets/, so a file there never changes under its name.
const IMMUTABLE = "public, max-age=31536000, immutable";
// index.html and the other unhashed files are revalidated (ETag, Last-Modified) on every load,
// so a new build reaches people at once.
const REVALIDATE = "no-cache";

/**
 * Serves the built app from one origin: the static files (compressed, cached by fingerprint,
 * with ranges, ETags and the app's routes falling back to index.html), `/config.json`, and reverse
 * proxies to the chain (`/rpc`) and to the worker (`/worker/*`), so the browser needs no CORS from
 * either. Request bodies are streamed through, never buffered, so large submissions go straight
 * to the worker.
 */
export async function createUiServer(parameters: CreateUiServerParameters): Promise<UiServer> {
  const distDir = path.resolve(parameters.distDir);
  const configBody = JSON.stringify(parameters.runtimeConfig);
  // forceCloseConnections: close() ends kept-alive browser connections instead of waiting on them.
  const app = Fastify({ logger: false, forceCloseConnections: true });

  // The proxies sit outside the compressed scope: the chain and the worker choose their own
  // encoding, and a stream from either passes through untouched.
  await app.register(fastifyHttpProxy, {
    upstream: new URL(parameters.rpcUpstream).origin,
    rewritePrefix: new URL(parameters.rpcUpstream).pathname,
    prefix: "/rpc",
    replyOptions: { onError: upstreamError(parameters.rpcUpstream) },
  });
  if (parameters.workerUpstream) {
    await app.register(fastifyHttpProxy, {
      upstream: new URL(parameters.workerUpstream).origin,
      rewritePrefix: new URL(parameters.workerUpstream).pathname.replace(/\/$/, ""),
      prefix: "/worker",
      replyOptions: { onError: upstreamError(parameters.workerUpstream) },
    });
  } else {
    const noWorker = (_: unknown, reply: ProblemReply) =>
      problem(reply, 503, "WORKER_NOT_CONFIGURED", "This UI server has no worker to forward to.", false);
    app.all("/worker", noWorker);
    app.all("/worker/*", noWorker);
  }

  await app.register(async (site: FastifyInstance) => {
    await site.register(fastifyCompress, { global: true, threshold: 1024 });
    await site.register(fastifyStatic, {
      root: distDir,
      prefix: "/",
      index: ["index.html"],
      cacheControl: false,
      setHeaders: (reply, file) => {
        const immutable = path.relative(distDir, file).startsWith(`assets${path.sep}`);
        reply.header("cache-control", immutable ? IMMUTABLE : REVALIDATE);
        reply.header("x-content-type-options", "nosniff");
        // RFC 9239 names text/javascript; @fastify/send still says application/javascript.
        if (file.endsWith(".js")) reply.header("content-type", "text/javascript; charset=utf-8");
      },
    });
    site.get("/config.json", (_, reply) =>
      reply.header("cache-control", "no-store").type("application/json").send(configBody),
    );
    // The app's own routes (/proposals/123) are files only to the app: serve index.html for them.
    site.setNotFoundHandler((request, reply) => {
      const { pathname } = new URL(request.url, "http://ui.local");
      if ((request.method === "GET" || request.method === "HEAD") && !path.extname(pathname)) {
        return reply.sendFile("index.html");
      }
      return reply.code(404).type("text/plain; charset=utf-8").send("Not found");
    });
  });

  await app.listen({ port: parameters.port ?? 0, host: parameters.host ?? "127.0.0.1" });
  const address = app.server.address() as AddressInfo;
  return {
    url: `http://${address.address.includes(":") ? `[${address.address}]` : address.address}:${address.port}`,
    close: () => app.close(),
  };
}

function upstreamError(upstream: string) {
  const origin = new URL(upstream).origin;
  return (reply: ProblemReply) => {
    problem(reply, 502, "UPSTREAM_UNREACHABLE", `The UI server could not reach ${origin}.`, true);
  };
}

// The part of a reply a problem needs; the proxy's error hook types its reply for HTTP/2 as well.
type ProblemReply = {
  code(status: number): ProblemReply;
  type(contentType: string): ProblemReply;
  send(payload: string): unknown;
};

function problem(reply: ProblemReply, status: number, code: string, detail: string, retryable: boolean) {
  const body: Problem = { type: "about:blank", title: detail, status, code, detail, retryable };
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}
