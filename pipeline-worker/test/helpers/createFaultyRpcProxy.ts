import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { EIP1193RequestFn } from "viem";

export type RpcCall = { jsonrpc: "2.0"; id: number | string | null; method: string; params?: unknown[] };

/**
 * What goes wrong with a request that a rule matches.
 *
 * - `stall`: held until `release()` (or `clear()`); `before` holds the request itself, so the node
 *   only sees it once released, even if the client has given up by then (a late transaction);
 *   `after` lets the node act and holds the answer.
 * - `close`, `reset`, `502`: the answer never comes: the socket is closed, reset, or a gateway
 *   answers 502. `before`: the node never saw the request; `after`: it acted, and the answer is lost.
 * - `stale`: answered from what the node said when `freeze()` was called (a lagging replica):
 *   an older head, logs of a range as it was before a reorg. Calls not seen by then go through.
 * - `reorder`: a batch's answers come back in reverse order (JSON-RPC clients must match by id).
 */
export type RpcFault =
  { kind: "stall" | "close" | "reset" | "502"; when: "before" | "after" } | { kind: "stale" } | { kind: "reorder" };

export type RpcFaultRule = {
  /** Methods it applies to; all when left out. */
  methods?: readonly string[];
  /** Narrows the match further, e.g. to one block range. */
  match?: (call: RpcCall) => boolean;
  fault: RpcFault;
  /** How many requests it hits before it lapses. Default: until `clear()`. */
  times?: number;
};

type Rule = RpcFaultRule & { hits: number };
type Held = { resolve: () => void };

/**
 * A JSON-RPC server in front of Hardhat's in-process chain that misbehaves on demand, as the
 * network and the nodes behind a production RPC URL do: it stalls, drops and resets, answers from
 * a stale replica, reorders batches. The worker under test is given its URL as `rpcUrl`, so every
 * fault reaches it through viem's real HTTP transport. `injected` counts faults by kind, for the
 * summary lines the fault tests print.
 */
export async function createFaultyRpcProxy(request: EIP1193RequestFn) {
  let rules: Rule[] = [];
  const held: Held[] = [];
  const sockets = new Set<Socket>();
  /** The last answer to each call (method and params), as the node gave it. */
  const answers = new Map<string, unknown>();
  let frozen: Map<string, unknown> | undefined;
  const injected: Record<string, number> = {};
  const calls: string[] = [];

  // Hex is case-insensitive: a checksummed and a lowercase address are the same call.
  const keyOf = (call: RpcCall) => `${call.method}:${JSON.stringify(call.params ?? []).toLowerCase()}`;

  function ruleFor(call: RpcCall, kinds: readonly RpcFault["kind"][]): Rule | undefined {
    const rule = rules.find(
      (r) =>
        kinds.includes(r.fault.kind) &&
        (r.methods === undefined || r.methods.includes(call.method)) &&
        (r.match === undefined || r.match(call)) &&
        (r.times === undefined || r.hits < r.times),
    );
    if (rule !== undefined) {
      rule.hits++;
      injected[rule.fault.kind] = (injected[rule.fault.kind] ?? 0) + 1;
    }
    return rule;
  }

  async function answer(call: RpcCall) {
    calls.push(call.method);
    const key = keyOf(call);
    if (frozen?.has(key) && ruleFor(call, ["stale"]) !== undefined) {
      return { jsonrpc: "2.0", id: call.id, result: frozen.get(key) ?? null };
    }
    try {
      const result = (await request({ method: call.method, params: call.params } as never)) ?? null;
      answers.set(key, result);
      return { jsonrpc: "2.0", id: call.id, result };
    } catch (error) {
      const { code, message, data } = error as { code?: number; message?: string; data?: unknown };
      return {
        jsonrpc: "2.0",
        id: call.id,
        error: { code: typeof code === "number" ? code : -32603, message: message ?? String(error), data },
      };
    }
  }

  const hold = () => new Promise<void>((resolve) => held.push({ resolve }));

  function fail(fault: Extract<RpcFault, { when: string }>, req: IncomingMessage, res: ServerResponse) {
    if (fault.kind === "502") {
      res.writeHead(502, { "content-type": "text/plain" }).end("Bad Gateway");
    } else if (fault.kind === "reset") {
      req.socket.resetAndDestroy();
    } else {
      req.socket.destroy();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as RpcCall | RpcCall[];
    const batch = Array.isArray(body) ? body : [body];
    // One rule per HTTP request: the first call a fault matches decides what happens to it.
    let fault: Extract<RpcFault, { when: string }> | undefined;
    for (const call of batch) {
      const rule = ruleFor(call, ["stall", "close", "reset", "502"]);
      if (rule !== undefined) {
        fault = rule.fault as Extract<RpcFault, { when: string }>;
        break;
      }
    }
    if (fault?.when === "before") {
      if (fault.kind !== "stall") return fail(fault, req, res);
      await hold();
    }
    const replies = await Promise.all(batch.map(answer));
    if (fault?.when === "after") {
      if (fault.kind !== "stall") return fail(fault, req, res);
      await hold();
    }
    if (Array.isArray(body) && batch.some((call) => ruleFor(call, ["reorder"]) !== undefined)) replies.reverse();
    if (res.destroyed) return;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify(Array.isArray(body) ? replies : replies[0], (_key, value: unknown) =>
        typeof value === "bigint" ? `0x${value.toString(16)}` : value,
      ),
    );
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) res.writeHead(500).end(String(error));
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  function release() {
    for (const entry of held.splice(0)) entry.resolve();
  }

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Faults injected so far, by kind. */
    injected,
    /** Methods of every call received, in order. */
    calls,
    /** Adds a fault; rules are tried in the order added. */
    inject(rule: RpcFaultRule) {
      rules.push({ ...rule, hits: 0 });
    },
    /** Requests (or answers) stalled now. */
    stalled: () => held.length,
    /** Lets every stalled request or answer go on. */
    release,
    /** Remembers the node's answers as they are now; `stale` faults answer from this. */
    freeze() {
      frozen = new Map(answers);
    },
    /** Every fault lapses and everything stalled goes on: the network heals. */
    clear() {
      rules = [];
      frozen = undefined;
      release();
    },
    async close() {
      this.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FaultyRpcProxy = Awaited<ReturnType<typeof createFaultyRpcProxy>>;

/** The sum of faults injected by several proxies or runs, for one summary line. */
export function describeInjected(injected: Record<string, number>): string {
  const parts = Object.entries(injected)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${n} ${kind}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}
