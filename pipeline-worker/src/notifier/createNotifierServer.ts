import Fastify, { type FastifyInstance } from "fastify";
import type { Notifier } from "./createNotifier.ts";

/**
 * The notifier's small HTTP face, for operators and supervisors (systemd, `npm start`): `GET
 * /healthz` (200 while polls succeed, 503 with the reason otherwise), `GET /v1/alerts` (recent
 * alerts, newest first) and `GET /v1/deliveries` (the delivery log: every attempt, its outcome,
 * status and error). `?limit=` takes 1 to 500 (default 50). It binds to 127.0.0.1 by default:
 * the log names subscriptions and receivers' errors.
 */
export function createNotifierServer(notifier: Notifier): FastifyInstance {
  const app = Fastify({ logger: false });
  const limitOf = (query: unknown) => {
    const raw = Number((query as { limit?: string } | undefined)?.limit ?? 50);
    return Number.isInteger(raw) && raw >= 1 && raw <= 500 ? raw : 50;
  };
  app.get("/healthz", async (_request, reply) => {
    const health = await notifier.health();
    return reply.code(health.ok ? 200 : 503).send(health);
  });
  app.get("/v1/alerts", async (request) => ({ alerts: await notifier.recentAlerts(limitOf(request.query)) }));
  app.get("/v1/deliveries", async (request) => ({ deliveries: await notifier.deliveryLog(limitOf(request.query)) }));
  return app;
}
