import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { toHex } from "viem";

type Provider = { request(args: { method: string; params?: unknown }): Promise<unknown> };

/**
 * JSON-RPC over HTTP in front of Hardhat's in-process chain, so that commands run as separate
 * processes (keyholders, the training command, verify-model) reach the same chain a test drives.
 */
export async function serveChainOverHttp(provider: Provider): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const parsed = JSON.parse(Buffer.concat(chunks).toString()) as unknown;
      const calls = (Array.isArray(parsed) ? parsed : [parsed]) as { id: number; method: string; params: unknown }[];
      Promise.all(
        calls.map((call) =>
          provider.request({ method: call.method, params: call.params }).then(
            (result) => ({ jsonrpc: "2.0", id: call.id, result }),
            (error: { code?: number; message: string; data?: unknown }) => ({
              jsonrpc: "2.0",
              id: call.id,
              error: { code: error.code ?? -32000, message: error.message, data: error.data },
            }),
          ),
        ),
      ).then((answers) => {
        response.writeHead(200, { "content-type": "application/json" });
        const body = Array.isArray(parsed) ? answers : answers[0];
        response.end(
          JSON.stringify(body, (_key, value: unknown) => (typeof value === "bigint" ? toHex(value) : value)),
        );
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
