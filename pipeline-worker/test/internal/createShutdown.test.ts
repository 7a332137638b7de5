import { describe, expect, it, vi } from "vitest";
import { createShutdown } from "../../src/internal/createShutdown.ts";

describe("createShutdown", () => {
  it("closes resources in the reverse order they were opened, once", async () => {
    const closed: string[] = [];
    const shutdown = createShutdown({ exit: () => {} });
    shutdown.register("journal", () => void closed.push("journal"));
    shutdown.register("store", async () => void closed.push("store"));
    shutdown.register("http", () => void closed.push("http"));
    const first = shutdown.shutdown("test");
    const second = shutdown.shutdown("again");
    expect(await first).toBe(0);
    expect(await second).toBe(0);
    expect(closed).toEqual(["http", "store", "journal"]);
  });

  it("still closes the rest when one fails or hangs, and reports an unclean exit", async () => {
    const closed: string[] = [];
    const shutdown = createShutdown({ timeoutMs: 50, exit: () => {} });
    shutdown.register("journal", () => void closed.push("journal"));
    shutdown.register("hung", () => new Promise<void>(() => {}));
    shutdown.register("broken", () => {
      throw new RangeError("boom");
    });
    expect(await shutdown.shutdown("test")).toBe(1);
    expect(closed).toEqual(["journal"]);
  });

  it("shuts down on SIGTERM and exits at once on a second signal", async () => {
    const exit = vi.fn();
    let release: () => void = () => {};
    const shutdown = createShutdown({ exit });
    shutdown.register("slow", () => new Promise<void>((resolve) => (release = resolve)));
    const uninstall = shutdown.installSignalHandlers(["SIGTERM"]);
    try {
      process.emit("SIGTERM", "SIGTERM");
      await new Promise((resolve) => setImmediate(resolve));
      expect(exit).not.toHaveBeenCalled();
      process.emit("SIGTERM", "SIGTERM");
      expect(exit).toHaveBeenCalledWith(130);
      release();
      await shutdown.shutdown("ignored");
      await new Promise((resolve) => setImmediate(resolve));
      expect(exit).toHaveBeenLastCalledWith(0);
    } finally {
      uninstall();
    }
  });
});
