/**
 * Start a Node HTTP server listening, as every server of crm-upload does (serve, dashboard, metrics,
 * `--port 0` picking a free port): a port that cannot be taken is a ConfigError (the CLI exits 2).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.ts';

/** Listen on `host:port`; resolves to the port taken. `what` names the server in the error, e.g. "for metrics". */
export async function listen(server: Server, port: number, host: string, what = ''): Promise<number> {
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(port, host, () => {
        server.off('error', fail);
        done();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`cannot listen on ${host}:${port}${what === '' ? '' : ` ${what}`}: ${code}`, { cause: err });
  }
  return (server.address() as AddressInfo).port;
}
