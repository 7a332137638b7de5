import type { Logger } from "../internal/createLogger.ts";
import { isWorkerError } from "../internal/WorkerError.ts";
import type { AlertPayload } from "./alertPayload.ts";
import type { DeliveryLogEntry, NotifierStore, PendingDelivery } from "./createNotifierStore.ts";
import type { DeliveryReceipt } from "./createWebhookSender.ts";
import { retryDelay, type RetryPolicy } from "./retryDelay.ts";

export type Send = (alert: AlertPayload) => Promise<DeliveryReceipt>;

export type CreateDeliveryQueueParameters = {
  store: NotifierStore;
  /** One sender per subscription, by its target name. */
  senders: ReadonlyMap<string, Send>;
  retry: RetryPolicy;
  /** Deliveries in flight at once, across all subscriptions. */
  concurrency?: number;
  logger?: Logger | undefined;
  now?: () => number;
  random?: () => number;
};

export type DeliveryQueue = {
  /** Delivers what is due now and schedules a wake-up for the next retry. */
  kick(): Promise<void>;
  /** Stops scheduling and waits for deliveries in flight. */
  stop(): Promise<void>;
};

/**
 * Works the store's outbox: each pending delivery is attempted when due; a success or a final
 * failure leaves the outbox and a retry is rescheduled with backoff, each in one write together
 * with its delivery-log line. Because the outbox is on disk, a restart resumes the retries where
 * they were; a crash after a receiver answered but before the write is the one case that sends
 * an alert twice, which is why every delivery carries the alert id for the receiver to
 * de-duplicate on (at-least-once, as every webhook sender that retries).
 */
export function createDeliveryQueue(parameters: CreateDeliveryQueueParameters): DeliveryQueue {
  const { store, senders, retry, logger } = parameters;
  const concurrency = parameters.concurrency ?? 8;
  const now = parameters.now ?? Date.now;
  const inFlight = new Map<string, Promise<void>>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;

  async function attempt(delivery: PendingDelivery) {
    const alert = await store.alert(delivery.alertId);
    const send = senders.get(delivery.target);
    const base = {
      at: new Date(now()).toISOString(),
      alertId: delivery.alertId,
      target: delivery.target,
      attempt: delivery.attempts + 1,
    };
    if (alert === undefined || send === undefined) {
      // The subscription was removed from the configuration since the alert was queued.
      const entry: DeliveryLogEntry = {
        ...base,
        type: alert?.type ?? "proposal.created",
        outcome: "dropped",
        code: null,
        status: null,
        error: "the subscription is no longer configured",
        durationMs: null,
      };
      await store.recordAttempt(delivery, entry, undefined);
      logger?.warn(
        { alertId: delivery.alertId, target: delivery.target },
        "Alert dropped: its subscription is no longer configured.",
      );
      return;
    }
    const started = performance.now();
    try {
      const receipt = await send(alert);
      const durationMs = Math.round(performance.now() - started);
      await store.recordAttempt(
        delivery,
        {
          ...base,
          type: alert.type,
          outcome: "delivered",
          code: null,
          status: receipt.status,
          error: null,
          durationMs,
        },
        undefined,
      );
      logger?.info(
        { alertId: alert.id, type: alert.type, target: delivery.target, attempt: base.attempt, durationMs },
        "Alert delivered.",
      );
    } catch (error) {
      const durationMs = Math.round(performance.now() - started);
      const message =
        error instanceof Error ? ((error as { shortMessage?: string }).shortMessage ?? error.message) : String(error);
      const code = isWorkerError(error) ? error.code : "INTERNAL";
      const status = isWorkerError(error) ? ((error.extra.status as number | null | undefined) ?? null) : null;
      const giveUp = base.attempt >= retry.maxAttempts;
      const next = giveUp
        ? undefined
        : { nextAttemptAt: now() + retryDelay(retry, base.attempt, parameters.random), lastError: message };
      await store.recordAttempt(
        delivery,
        {
          ...base,
          type: alert.type,
          outcome: giveUp ? "gave-up" : "retrying",
          code,
          status,
          error: message,
          durationMs,
        },
        next,
      );
      const fields = {
        alertId: alert.id,
        type: alert.type,
        target: delivery.target,
        attempt: base.attempt,
        code,
        status,
        error: message,
      };
      if (giveUp) logger?.error(fields, `Alert delivery given up after ${base.attempt} attempts.`);
      else
        logger?.warn(
          { ...fields, retryAt: new Date(next!.nextAttemptAt).toISOString() },
          "Alert delivery failed; retrying later.",
        );
    }
  }

  async function run() {
    do {
      again = false;
      const pending = await store.pendingDeliveries();
      const due = pending.filter((d) => d.nextAttemptAt <= now() && !inFlight.has(key(d)));
      for (const delivery of due) {
        if (stopped) break;
        while (inFlight.size >= concurrency) await Promise.race(inFlight.values());
        const k = key(delivery);
        const task = attempt(delivery)
          .catch((error: unknown) =>
            logger?.error({ err: error, alertId: delivery.alertId }, "Alert delivery could not be recorded."),
          )
          .finally(() => {
            inFlight.delete(k);
          });
        inFlight.set(k, task);
      }
      await Promise.all(inFlight.values());
    } while (again && !stopped);
    schedule(await store.pendingDeliveries());
  }

  function schedule(pending: PendingDelivery[]) {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const next = pending[0];
    if (stopped || next === undefined) return;
    // Capped, so that a clock change does not leave a retry waiting for days.
    const wait = Math.min(Math.max(0, next.nextAttemptAt - now()), 60_000);
    timer = setTimeout(() => void kick(), wait);
    timer.unref?.();
  }

  function kick(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = run()
      .catch((error: unknown) =>
        logger?.error({ err: error }, "Alert delivery loop failed; it retries on the next alert or poll."),
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    kick,
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
      await Promise.all(inFlight.values());
    },
  };
}

const key = (delivery: PendingDelivery) => `${delivery.alertId}!${delivery.target}`;
