/**
 * `crm-upload serve [--host H] [--port N] [--no-worker]`: the ingest API (`POST /v1/calls`,
 * `GET /v1/calls/:callId`, `/healthz`, `/openapi.json`) over the outbox, with the worker delivering in
 * the same process, until SIGINT/SIGTERM (a graceful stop, exit 0).
 */
import type { Command } from 'commander';
import { DEFAULT_HOST, DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_PORT } from '../serve/defaults.ts';
import { installSignalHandlers } from '../worker/signals.ts';
import { CliExit, cliLogger, configFrom, EXIT, runAction, say, type GlobalOptions } from './context.ts';

interface ServeFlags {
  host?: string;
  port?: string;
  worker?: boolean;
  concurrency?: string;
  recordings?: string;
  maxJson?: string;
  maxUpload?: string;
  allowHost?: string[];
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** `512kb`, `10mb`, `1gb` or a number of bytes; a bad value exits 2 naming its flag. */
export function parseSize(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new CliExit(EXIT.USAGE, `error: ${flag} must be a size such as 512kb, 10mb or 1gb, got "${value}"`);
  return bytes;
}

/** Register the `serve` command. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('the ingest API for agents in any language (POST /v1/calls into the outbox), delivering in-process, until SIGINT/SIGTERM')
    .option('--host <host>', 'address to bind; anything but loopback needs CRM_INGEST_TOKEN', DEFAULT_HOST)
    .option('--port <n>', 'port to listen on; 0 picks a free one', String(DEFAULT_PORT))
    .option('--no-worker', 'only enqueue; leave delivery to `crm-upload worker`')
    .option('--concurrency <n>', 'deliveries at once (CRM_CONCURRENCY)')
    .option('--recordings <dir>', 'the folder recordingPath must be inside (CRM_RECORDINGS_DIR)')
    .option('--max-json <size>', `limit of a JSON body (default ${DEFAULT_MAX_JSON_BYTES / 1024 ** 2}mb)`)
    .option('--max-upload <size>', `limit of a multipart body with its recording (default ${DEFAULT_MAX_UPLOAD_BYTES / 1024 ** 2}mb)`)
    .option('--allow-host <host>', 'another Host header to answer (name or name:port), e.g. behind a reverse proxy; repeatable', (v: string, all: string[] = []) => [...all, v])
    .addHelpText('after', '\nEvery /v1 request needs Authorization: Bearer <token>: CRM_INGEST_TOKEN, or a token generated and printed at start (`token: …`) when none is set.')
    .action(async (flags: ServeFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const portText = (flags.port ?? String(DEFAULT_PORT)).trim();
        const port = Number(portText);
        if (!/^\d+$/.test(portText) || port > 65535) throw new CliExit(EXIT.USAGE, `error: --port must be a whole number from 0 to 65535, got "${flags.port}"`);
        if (flags.concurrency !== undefined && !/^[1-9]\d*$/.test(flags.concurrency.trim())) {
          throw new CliExit(EXIT.USAGE, `error: --concurrency must be a whole number ≥ 1, got "${flags.concurrency}"`);
        }
        const maxJsonBytes = parseSize('--max-json', flags.maxJson);
        const maxUploadBytes = parseSize('--max-upload', flags.maxUpload);
        const config = configFrom({ CRM_CONCURRENCY: flags.concurrency?.trim(), CRM_RECORDINGS_DIR: flags.recordings });
        const logger = cliLogger(globals);
        const worker = flags.worker !== false;
        // This process is the server's own: its globals may be the lighter ones.
        // Loaded here, not at the top: every other command would load the HTTP stack for nothing.
        const { startIngestServer } = await import('../serve/server.ts');
        const server = await startIngestServer({
          config,
          host: flags.host,
          port,
          worker,
          logger,
          maxJsonBytes,
          maxUploadBytes,
          allowHosts: flags.allowHost ?? [],
          overrideGlobalObjects: true,
        });
        say(`listening on ${server.url}`);
        // Only a token made up now is printed: one from the environment stays out of the system logs.
        if (!server.tokenFromConfig) say(`token: ${server.token}`);
        if (!worker) say('worker off (--no-worker): calls stay queued for `crm-upload worker`');

        return new Promise<number>((finish) => {
          const uninstall = installSignalHandlers({
            stop: async () => {
              const summary = await server.close();
              if (summary) say(`worker: ${summary.delivered} delivered, ${summary.retried} to retry, ${summary.dead} dead, ${summary.released} released`);
            },
            onSignal: (signal, second) => say(second ? `${signal}: exiting now` : `${signal}: stopping (requests and deliveries in flight finish)…`),
            exit: (code) => {
              // A second signal means now: items still leased come back when their leases expire.
              if (code === 130) process.exit(130);
              uninstall();
              finish(code === 0 ? EXIT.OK : EXIT.FAILED);
            },
          });
          server.worker?.done.catch(async (err: unknown) => {
            // The outbox failed under the worker: stop serving rather than accept calls nobody delivers.
            say(`error: the worker stopped: ${err instanceof Error ? err.message : String(err)}`);
            uninstall();
            await server.close().catch(() => null);
            finish(EXIT.FAILED);
          });
        });
      });
    });
}
