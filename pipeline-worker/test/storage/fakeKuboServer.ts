// NOT A KUBO NODE. No Kubo daemon can run on the machines this project is tested on (no Debian
// package; the npm `kubo` package downloads its binary at install). This is a small HTTP server
// that speaks the subset of Kubo's RPC API (/api/v0/add, /api/v0/block/get, /api/v0/pin/ls, /api/v0/pin/rm) the
// Kubo adapter uses, with the same request and response shapes, backed by an in-memory Helia
// node. It shows that the adapter sends what Kubo expects and verifies what comes back; it
// cannot show that a real Kubo answers exactly so.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { unixfs } from "@helia/unixfs";
import { createHeliaLight } from "helia";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { CID } from "multiformats/cid";

export type FakeKuboOptions = {
  /** Serve every block with its last byte flipped, as a faulty or lying node would. */
  tamperBlocks?: boolean;
  /** Answer /add with the CID of other content. */
  lieAboutCid?: boolean;
  /** Import with 1 MiB chunks whatever the request says, like a node configured otherwise. */
  ignoreChunker?: boolean;
};

export async function startFakeKubo(options: FakeKuboOptions = {}) {
  const helia = createHeliaLight();
  await helia.start();
  const fs = unixfs(helia);
  const calls: string[] = [];
  const queries: URLSearchParams[] = [];

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) =>
      fail(response, error instanceof Error ? error.message : String(error)),
    );
  });

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? "/", "http://fake-kubo");
    calls.push(url.pathname);
    queries.push(url.searchParams);
    if (request.method !== "POST") return fail(response, "Kubo's RPC API takes POST only", 405);
    switch (url.pathname) {
      case "/api/v0/add":
        return add(request, response, url.searchParams);
      case "/api/v0/block/get": {
        const cid = CID.parse(url.searchParams.get("arg") ?? "");
        if (!(await helia.blockstore.has(cid))) {
          return fail(response, `block was not found locally (offline): ipld: could not find ${cid}`);
        }
        const chunks: Uint8Array[] = [];
        for await (const chunk of helia.blockstore.get(cid)) chunks.push(chunk);
        const block = Buffer.concat(chunks);
        if (options.tamperBlocks) block[block.length - 1]! ^= 0xff;
        response.writeHead(200, { "content-type": "application/octet-stream" });
        return response.end(block);
      }
      case "/api/v0/pin/ls": {
        const arg = url.searchParams.get("arg") ?? "";
        if (!(await helia.pins.isPinned(CID.parse(arg)))) return fail(response, `path '${arg}' is not pinned`);
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(`${JSON.stringify({ Cid: arg, Type: "recursive" })}\n`);
      }
      case "/api/v0/pin/rm": {
        const arg = url.searchParams.get("arg") ?? "";
        if (!(await helia.pins.isPinned(CID.parse(arg)))) return fail(response, "not pinned or pinned indirectly");
        for await (const _ of helia.pins.rm(CID.parse(arg)));
        response.writeHead(200, { "content-type": "application/json" });
        return response.end(`${JSON.stringify({ Pins: [arg] })}\n`);
      }
      default:
        return fail(response, `unknown command ${url.pathname}`, 404);
    }
  }

  async function add(request: IncomingMessage, response: ServerResponse, query: URLSearchParams) {
    const form = await new Request("http://fake-kubo/", {
      method: "POST",
      headers: { "content-type": request.headers["content-type"] ?? "" },
      body: Readable.toWeb(request) as ReadableStream,
      duplex: "half",
    } as RequestInit).formData();
    const cidVersion = Number(query.get("cid-version") ?? 0);
    const chunkSize = options.ignoreChunker ? 1_048_576 : Number((query.get("chunker") ?? "size-262144").slice(5));
    response.writeHead(200, { "content-type": "application/x-ndjson" });
    for (const [, value] of form) {
      if (typeof value === "string") continue;
      const bytes = new Uint8Array(await value.arrayBuffer());
      let cid = await fs.addBytes(bytes, {
        cidVersion: cidVersion === 1 ? 1 : 0,
        rawLeaves: query.has("raw-leaves") ? query.get("raw-leaves") === "true" : cidVersion === 1,
        chunker: fixedSize({ chunkSize }),
        layout: balanced({ maxChildrenPerNode: 174 }),
      });
      if (query.get("pin") !== "false" && !(await helia.pins.isPinned(cid))) for await (const _ of helia.pins.add(cid));
      if (options.lieAboutCid) cid = await fs.addBytes(Buffer.from("something else"));
      response.write(
        `${JSON.stringify({ Name: value.name || cid.toString(), Hash: cid.toString(), Size: String(bytes.byteLength) })}\n`,
      );
    }
    response.end();
  }

  function fail(response: ServerResponse, message: string, status = 500) {
    if (!response.headersSent) response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify({ Message: message, Code: 0, Type: "error" }));
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    queries,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await helia.stop();
    },
  };
}
