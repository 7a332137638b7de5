import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { EIP1193RequestFn } from "viem";

type JsonRpcRequest = { jsonrpc: "2.0"; id: number | string | null; method: string; params?: unknown };

/**
 * Serves an in-process EIP-1193 provider (Hardhat's in-process chain) over HTTP JSON-RPC, so that
 * worker processes can share the chain a test set up through governance. Errors keep their code
 * and data, so revert reasons reach the workers' viem as they would from a node.
 */
export async function serveProvider(request: EIP1193RequestFn) {
  async function answer(call: JsonRpcRequest) {
    try {
      const result = await request({ method: call.method, params: call.params } as never);
      return { jsonrpc: "2.0", id: call.id, result: result ?? null };
    } catch (error) {
      const { code, message, data } = error as { code?: number; message?: string; data?: unknown };
      return {
        jsonrpc: "2.0",
        id: call.id,
        error: { code: typeof code === "number" ? code : -32603, message: message ?? String(error), data },
      };
    }
  }
  const server = createServer((req, res) => {
    void readBody(req).then(async (text) => {
      const body = JSON.parse(text) as JsonRpcRequest | JsonRpcRequest[];
      const reply = Array.isArray(body) ? await Promise.all(body.map(answer)) : await answer(body);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(reply, (_key, value: unknown) =>
          typeof value === "bigint" ? `0x${value.toString(16)}` : value,
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
