import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createUiServer, type UiServer } from "../server/createUiServer.ts";
import type { RuntimeConfig } from "../src/lib/RuntimeConfig.ts";

let dist: string;
let ui: UiServer;
let upstream: http.Server;
const seen: { method: string; url: string; body: string }[] = [];

const statusOf = (url: string, headers: http.OutgoingHttpHeaders) =>
  new Promise<number | undefined>((resolve, reject) => {
    http.get(url, { headers }, (response) => resolve(response.resume().statusCode)).on("error", reject);
  });

beforeAll(async () => {
  dist = await mkdtemp(path.join(tmpdir(), "ui-dist-"));
  await mkdir(path.join(dist, "assets"));
  await writeFile(path.join(dist, "index.html"), "<!doctype html><title>app</title>");
  await writeFile(path.join(dist, "assets", "app.js"), "console.log(1)");
  await writeFile(path.join(dist, "assets", "big.js"), `export const text = "${"proposal ".repeat(2000)}";`);
  await writeFile(path.join(tmpdir(), "ui-secret.txt"), "secret");
  // One fake upstream plays both the chain and the worker; it echoes what it received.
  upstream = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      seen.push({ method: request.method!, url: request.url!, body });
      response.writeHead(200, { "content-type": "application/json", connection: "close" });
      response.end(JSON.stringify({ url: request.url }));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const port = (upstream.address() as AddressInfo).port;
  ui = await createUiServer({
    distDir: dist,
    runtimeConfig: { chainId: 31337, rpcUrl: "/rpc", workerUrl: "/worker" } as RuntimeConfig,
    rpcUpstream: `http://127.0.0.1:${port}/chain`,
    workerUpstream: `http://127.0.0.1:${port}`,
  });
});

afterAll(async () => {
  await ui?.close();
  await new Promise((resolve) => upstream?.close(resolve));
  await rm(dist, { recursive: true, force: true });
});

describe("the UI server", () => {
  test("serves the runtime config and the app, with the app's routes falling back to index.html", async () => {
    expect(await (await fetch(`${ui.url}/config.json`)).json()).toMatchObject({ chainId: 31337, rpcUrl: "/rpc" });
    const route = await fetch(`${ui.url}/proposals/123`);
    expect(route.status).toBe(200);
    expect(await route.text()).toContain("<title>app</title>");
    const asset = await fetch(`${ui.url}/assets/app.js`);
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(asset.headers.get("cache-control")).toContain("immutable");
    expect((await fetch(`${ui.url}/assets/missing.js`)).status).toBe(404);
  });

  test("compresses the app, answers ranges and revalidates index.html by its ETag", async () => {
    const big = await fetch(`${ui.url}/assets/big.js`, { headers: { "accept-encoding": "gzip" } });
    expect(big.headers.get("content-encoding")).toBe("gzip");
    expect(await big.text()).toContain("proposal proposal");

    const range = await fetch(`${ui.url}/assets/big.js`, {
      headers: { range: "bytes=7-18", "accept-encoding": "identity" },
    });
    expect(range.status).toBe(206);
    expect(range.headers.get("content-range")).toMatch(/^bytes 7-18\//);
    expect(await range.text()).toBe("const text =");

    const index = await fetch(`${ui.url}/`);
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const etag = index.headers.get("etag")!;
    expect(etag).toBeTruthy();
    // A browser's revalidation; fetch() would add cache-control: no-cache, which forces a full answer.
    expect(await statusOf(`${ui.url}/`, { "if-none-match": etag })).toBe(304);
  });

  test("never serves files outside the app", async () => {
    const response = await fetch(`${ui.url}/..%2F..%2F..%2F..%2F..%2Ftmp%2Fui-secret.txt`);
    expect(await response.text()).not.toContain("secret");
  });

  test("proxies /rpc to the chain and /worker/* to the worker, bodies included", async () => {
    const rpc = await fetch(`${ui.url}/rpc`, { method: "POST", body: '{"method":"eth_chainId"}' });
    expect(await rpc.json()).toEqual({ url: "/chain" });
    const worker = await fetch(`${ui.url}/worker/v1/submissions?contributor=0xabc`);
    expect(await worker.json()).toEqual({ url: "/v1/submissions?contributor=0xabc" });
    expect(seen.find((s) => s.url === "/chain")).toMatchObject({ method: "POST", body: '{"method":"eth_chainId"}' });
    // A submission far above fastify's 1 MiB body limit still reaches the worker whole.
    const upload = "x".repeat(3 * 1024 * 1024);
    const put = await fetch(`${ui.url}/worker/v1/submissions/1/data`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: upload,
    });
    expect(put.status).toBe(200);
    expect(seen.find((s) => s.url === "/v1/submissions/1/data")?.body.length).toBe(upload.length);
  });

  test("an unreachable chain or a missing worker gets a problem with a stable code", async () => {
    const lonely = await createUiServer({
      distDir: dist,
      runtimeConfig: { chainId: 31337, rpcUrl: "/rpc", workerUrl: null } as RuntimeConfig,
      rpcUpstream: "http://127.0.0.1:1",
    });
    try {
      const rpc = await fetch(`${lonely.url}/rpc`, { method: "POST", body: "{}" });
      expect(rpc.status).toBe(502);
      expect(await rpc.json()).toMatchObject({ code: "UPSTREAM_UNREACHABLE" });
      const worker = await fetch(`${lonely.url}/worker/v1/policy`);
      expect(worker.status).toBe(503);
      expect(await worker.json()).toMatchObject({ code: "WORKER_NOT_CONFIGURED" });
    } finally {
      await lonely.close();
    }
  });
});
