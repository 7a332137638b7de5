import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
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

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

// Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded by a proxy.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

/**
 * Serves the built app from one origin: the static files (with the app's routes falling back to
 * index.html), `/config.json`, and reverse proxies to the chain (`/rpc`) and to the worker
 * (`/worker/*`), so the browser needs no CORS from either. Request bodies are streamed through,
 * never buffered, so large submissions go straight to the worker.
 */
export async function createUiServer(parameters: CreateUiServerParameters): Promise<UiServer> {
  const distDir = path.resolve(parameters.distDir);
  const configBody = JSON.stringify(parameters.runtimeConfig);

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://ui.local");
    if (url.pathname === "/config.json") {
      response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      response.end(configBody);
      return;
    }
    if (url.pathname === "/rpc") {
      proxy(request, response, parameters.rpcUpstream, "");
      return;
    }
    if (url.pathname === "/worker" || url.pathname.startsWith("/worker/")) {
      if (!parameters.workerUpstream) {
        problem(response, 503, "WORKER_NOT_CONFIGURED", "This UI server has no worker to forward to.");
        return;
      }
      proxy(request, response, parameters.workerUpstream, url.pathname.slice("/worker".length) + url.search);
      return;
    }
    void serveStatic(distDir, url.pathname, request, response);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(parameters.port ?? 0, parameters.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address.includes(":") ? `[${address.address}]` : address.address}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function proxy(request: IncomingMessage, response: ServerResponse, upstream: string, pathAndQuery: string) {
  const base = new URL(upstream);
  // `/worker/v1/policy?x=1` goes to `<upstream path>/v1/policy?x=1`; `/rpc` to the upstream URL itself.
  const target = pathAndQuery === "" ? base : new URL(base.pathname.replace(/\/$/, "") + pathAndQuery, base.origin);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  const client = target.protocol === "https:" ? https : http;
  const upstreamRequest = client.request(target, { method: request.method, headers }, (upstreamResponse) => {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(upstreamResponse.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
    }
    response.writeHead(upstreamResponse.statusCode ?? 502, out);
    upstreamResponse.pipe(response);
  });
  upstreamRequest.on("error", () => {
    if (!response.headersSent) {
      problem(response, 502, "UPSTREAM_UNREACHABLE", `The UI server could not reach ${base.origin}.`);
    } else response.destroy();
  });
  request.pipe(upstreamRequest);
}

async function serveStatic(distDir: string, pathname: string, request: IncomingMessage, response: ServerResponse) {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  let file = path.join(distDir, path.normalize(decodeURIComponent(pathname)).replace(/^(\.\.[/\\])+/, ""));
  if (!file.startsWith(distDir)) {
    response.writeHead(403).end();
    return;
  }
  let info = await stat(file).catch(() => undefined);
  if (info?.isDirectory()) {
    file = path.join(file, "index.html");
    info = await stat(file).catch(() => undefined);
  }
  // The app's own routes (/proposals/123) are files only to the app: serve index.html for them.
  if (!info && !path.extname(pathname)) {
    file = path.join(distDir, "index.html");
    info = await stat(file).catch(() => undefined);
  }
  if (!info) {
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found");
    return;
  }
  const immutable = pathname.startsWith("/assets/");
  response.writeHead(200, {
    "content-type": CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream",
    "content-length": info.size,
    "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "x-content-type-options": "nosniff",
  });
  if (request.method === "HEAD") response.end();
  else createReadStream(file).pipe(response);
}

function problem(response: ServerResponse, status: number, code: string, detail: string) {
  response.writeHead(status, { "content-type": "application/problem+json" });
  response.end(JSON.stringify({ title: detail, status, code, detail }));
}
