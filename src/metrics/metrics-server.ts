/**
 * `worker --metrics-port N`: a minimal HTTP server with `GET /metrics` (Prometheus text format) beside
 * the delivery loop. On a loopback address it answers only a loopback `Host` (DNS rebinding: a web page
 * must not read the queue's figures through a name it controls); on any other address the operator has
 * chosen to expose it and any `Host` is answered. It serves nothing else and accepts no writes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { isLoopbackHost } from '../http/auth.ts';
import { allowedHosts, hostAllowed, hostWithPort } from '../http/host-allowlist.ts';
import { ConfigError } from '../errors.ts';
import { listen } from '../http/listen.ts';

/** Options of `startMetricsServer`. */
export interface MetricsServerOptions {
  registry: Registry;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
}

/** A running metrics server. */
export interface MetricsServer {
  /** `http://HOST:PORT/metrics`. */
  url: string;
  port: number;
  /** Stop listening and drop the connections; safe to call twice. */
  close(): Promise<void>;
}

/** Start the server; resolves once it listens. A port in use is a ConfigError. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = (options.host ?? '127.0.0.1').trim();
  const { registry, port } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`the metrics port must be a whole number from 0 to 65535, got ${port}`);
  let allowed: Set<string> | null = null;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else send(res, 500, `cannot collect the metrics: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (allowed !== null && !hostAllowed(req.headers.host, allowed)) return send(res, 421, 'misdirected request: unknown Host\n');
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return send(res, 404, 'not found: GET /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  const actual = await listen(server, port, host, 'for metrics');
  if (isLoopbackHost(host)) allowed = allowedHosts(host, actual);

  let closing: Promise<void> | null = null;
  return {
    url: `http://${hostWithPort(host, actual)}/metrics`,
    port: actual,
    close() {
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
}
