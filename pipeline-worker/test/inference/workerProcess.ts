// A worker in a process of its own, for tests with several workers: the real assembly
// (createWorker, loadConfig from WORKER_* variables) with the test's keyword model instead of the
// embedded one. TEST_CLOCK_OFFSET_MS puts its clock on the chain's time; TEST_MODEL_DELAY_MS makes
// the model take that long, so that a test can catch queries in flight. Prints one JSON line with
// its URL once it listens; stops on SIGTERM.
import { createWorker } from "../../src/createWorker.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import { loadConfig } from "../../src/internal/loadConfig.ts";
import { createKeywordModel } from "./createKeywordModel.ts";

const config = loadConfig();
const offsetMs = Number(process.env.TEST_CLOCK_OFFSET_MS ?? "0");
const delayMs = Number(process.env.TEST_MODEL_DELAY_MS ?? "0");
const model = createKeywordModel();
const classify = model.classify.bind(model);
model.classify = async (input, options) => {
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  return classify(input, options);
};
const worker = await createWorker({
  config,
  logger: createLogger({ level: config.logLevel, name: `worker-${config.inference?.workerIndex ?? 0}` }),
  model,
  now: () => Date.now() + offsetMs,
  pollingIntervalMs: 200,
});
const url = await worker.listen();
process.stdout.write(`${JSON.stringify({ url, pid: process.pid })}\n`);
process.on("SIGTERM", () => {
  void worker.close().then(() => process.exit(0));
});
