// The real worker (createWorker, configured from WORKER_* variables) with a model that answers at
// once, for measuring what the gateway itself costs. Next to it, in the same process and on the
// same HTTP stack (createApiServer: the same Fastify, logger and error handling), a bare route
// `POST /model` that calls the same model directly: the baseline the gateway's added latency is
// measured against. Prints one JSON line, `{ url, baselineUrl, pid }`, once both listen; stops
// on SIGTERM. Used by `npm run bench -- queries`.
import { createWorker } from "@dao-ai/pipeline-worker/createWorker";
import { createApiServer, ERROR_DOCS_PATH, createMetrics, loadConfig, type Model } from "@dao-ai/pipeline-worker/bench";
import { createLogger } from "@dao-ai/pipeline-worker/createLogger";

/** Answers every input at once with the same label: the model's own cost is nil. */
export const noopModel: Model = {
  id: "noop-model",
  classify: async () => ({ label: "noop", score: "low" }),
};

const config = loadConfig();
const logger = createLogger({ level: config.logLevel, name: "worker" });
const worker = await createWorker({ config, logger, model: noopModel });
const url = await worker.listen();

const baseline = createApiServer({
  logger,
  metrics: createMetrics({ defaultMetrics: false }),
  docsUrl: ERROR_DOCS_PATH,
});
baseline.post<{ Body: { input: string } }>(
  "/model",
  {
    schema: {
      body: {
        type: "object",
        required: ["input"],
        properties: { input: { type: "string", minLength: 1, maxLength: config.inference?.maxInputLength ?? 4096 } },
      },
    },
  },
  async (request) => noopModel.classify(request.body.input),
);
const baselineUrl = await baseline.listen({ host: config.http.host, port: 0 });

process.stdout.write(`${JSON.stringify({ url, baselineUrl, pid: process.pid })}\n`);
process.on("SIGTERM", () => {
  void Promise.all([worker.close(), baseline.close()]).then(() => process.exit(0));
});
