/** Anything a test starts and must stop again. */
export type Closable = { close(): Promise<void> };

/**
 * Starts several things at once (a chain stack and a browser, say) and returns them all; if any
 * fails to start, closes those that did start, then throws. `Promise.all` rejects at the first
 * failure while the others go on starting, and what they start has no owner left to close it: a
 * browser that failed to launch left the stack's Anvil running after the tests.
 */
export async function startTogether<T extends Record<string, () => Promise<Closable>>>(
  starts: T,
): Promise<{ [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const names = Object.keys(starts);
  // allSettled waits for every start to finish, failed or not, so nothing is still starting
  // when we close what started.
  const settled = await Promise.allSettled(names.map((name) => starts[name]!()));
  const failures = settled.flatMap((result) => (result.status === "rejected" ? [result.reason as unknown] : []));
  if (failures.length > 0) {
    await Promise.all(
      settled.map((result) => (result.status === "fulfilled" ? result.value.close().catch(() => {}) : undefined)),
    );
    throw failures.length === 1 ? failures[0] : new AggregateError(failures, "Several things failed to start.");
  }
  return Object.fromEntries(names.map((name, i) => [name, (settled[i] as PromiseFulfilledResult<Closable>).value])) as {
    [K in keyof T]: Awaited<ReturnType<T[K]>>;
  };
}
