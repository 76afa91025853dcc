/**
 * Long synchronous loops (a scan of many small files, preparing thousands of payloads) hand the event
 * loop back every few milliseconds, so that timers (progress output), signals and the I/O of deliveries
 * running meanwhile are not held up.
 */

/** How long synchronous work may hold the event loop before it yields. */
export const SLICE_MS = 12;

/**
 * A function to call between steps of a loop: null while the loop may go on, else a promise (to
 * await) that resolves once the event loop has turned.
 */
export function yielder(sliceMs = SLICE_MS): () => Promise<void> | null {
  let since = performance.now();
  return () => {
    if (performance.now() - since < sliceMs) return null;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        since = performance.now();
        resolve();
      }),
    );
  };
}
