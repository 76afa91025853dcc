/**
 * Whether a request was written whole before it failed: the fact that tells an uncertain attempt (the
 * CRM may hold the call) from a certain one (it never saw a whole request) — docs/architecture.md,
 * "Delivery" → "Uncertain attempts". undici tells a request's handler `onRequestSent()` once the headers
 * and the whole body are written to the socket, but `request()` keeps that to itself; this dispatcher,
 * one per request, passes the request on to the shared agent with a handler that also records it.
 *
 * Not an `agent.compose` interceptor: undici hands interceptors its new-style handler wrapper, which
 * does not carry `onRequestSent`; `request()` calls a dispatcher's `dispatch` with its own handler.
 */
import { Dispatcher } from 'undici';

/** A one-request dispatcher in front of `inner`; `sent` is true once the request was written whole. */
export class RequestSentTracker extends Dispatcher {
  /** True once undici wrote the headers and the whole body to the connection. */
  sent = false;
  readonly #inner: Dispatcher;

  constructor(inner: Dispatcher) {
    super();
    this.#inner = inner;
  }

  /** @inheritdoc */
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.#inner.dispatch(options, withRequestSent(handler, () => (this.sent = true)));
  }

  // Closing belongs to the shared agent, not to one request's tracker.
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    if (callback) return void queueMicrotask(callback);
    return Promise.resolve();
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === 'function' ? a : b;
    if (callback) return void queueMicrotask(callback);
    return Promise.resolve();
  }
}

/**
 * The handler with `onRequestSent` recording the fact first. Every other member is the handler's own,
 * bound to it (undici's handlers keep their state on `this`), so undici treats it exactly as before.
 */
function withRequestSent(handler: Dispatcher.DispatchHandler, onSent: () => void): Dispatcher.DispatchHandler {
  return new Proxy(handler, {
    get(target, prop) {
      if (prop === 'onRequestSent') {
        return () => {
          onSent();
          return (target as { onRequestSent?: () => unknown }).onRequestSent?.();
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
