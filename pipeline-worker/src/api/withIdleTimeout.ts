import { Readable } from "node:stream";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * A request body as Fastify's `preParsing` hook hands it on: `receivedEncodedLength` is what Fastify
 * compares with Content-Length once the body ends.
 */
export type IdleGuardedBody = Readable & { receivedEncodedLength: number };

/**
 * The request body, passed on unchanged, that fails with REQUEST_TIMEOUT when none of it arrives
 * for `idleTimeoutMs` while it is being read. A body may take as long as it likes in all (a large
 * upload over a slow link takes many minutes); what it may not do is stop, holding a connection
 * and a half-written upload for ever. Only time spent waiting on the client counts: while the
 * reader is busy (a store pushing back) nothing is asked of the client and no timer runs.
 *
 * Neither a timeout nor the reader giving up destroys the request itself: that would destroy its
 * socket, and the refusal must still be written on it (the error handler then closes the
 * connection, since the rest of the body is unread).
 */
export function withIdleTimeout(request: Readable, idleTimeoutMs: number): IdleGuardedBody {
  // Runs only while the body waits on the client; bytes arriving, or the end, disarm it.
  let timer: NodeJS.Timeout | undefined;
  let attached = false;

  const body: IdleGuardedBody = Object.assign(
    new Readable({
      read() {
        // Listening only once the body is read leaves a body nobody reads to Node, which discards
        // it after the response so that the connection can carry the next request.
        if (!attached) attach();
        request.resume();
        arm();
      },
      destroy(error, callback) {
        disarm();
        detach();
        callback(error);
      },
    }),
    { receivedEncodedLength: 0 },
  );

  function arm() {
    if (timer !== undefined) return;
    const armed = setTimeout(() => {
      // After this process stalls (a long GC pause, a busy event loop) timers run before the
      // bytes that came in meanwhile are handed over; look again once they have been.
      setImmediate(() => {
        if (timer !== armed || body.destroyed) return;
        body.destroy(
          new WorkerError(
            "REQUEST_TIMEOUT",
            `The request body stopped arriving: none of it came for ${idleTimeoutMs} ms.`,
            { hints: ["Send the request again; a body may arrive slowly, but not pause for that long."] },
          ),
        );
      });
    }, idleTimeoutMs);
    timer = armed;
  }

  function disarm() {
    clearTimeout(timer);
    timer = undefined;
  }

  function onData(chunk: Buffer) {
    disarm();
    body.receivedEncodedLength += chunk.byteLength;
    // The reader has enough for now; the next read asks the client for more.
    if (!body.push(chunk)) request.pause();
  }
  function onEnd() {
    disarm();
    body.push(null);
  }
  // A client that goes away mid-body: Node destroys the request with an "aborted" error, passed on.
  function onError(error: Error) {
    body.destroy(error);
  }

  function attach() {
    attached = true;
    request.on("data", onData).on("end", onEnd).on("error", onError);
  }
  function detach() {
    request.off("data", onData).off("end", onEnd).off("error", onError);
  }

  return body;
}
