/**
 * `crm-upload dashboard [--port N] [--host H] [--allow-host H…] [--show-pii]`: the web dashboard and
 * `/metrics` over the outbox, until SIGINT/SIGTERM (exit 0). Prints `listening on http://HOST:PORT` and
 * `token: <token>` on stderr — the only place the token is ever printed. The operator opens the page
 * and pastes the token once (it stays in that browser tab), or opens `http://HOST:PORT/#token=<token>`:
 * a URL fragment never reaches the server, so the token is in no request line or log.
 */
import type { Command } from 'commander';
import { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT } from '../dashboard/defaults.ts';
import { installSignalHandlers } from '../worker/signals.ts';
import { CliExit, cliLogger, configFrom, EXIT, runAction, say, type GlobalOptions } from './context.ts';

interface DashboardFlags {
  host?: string;
  port?: string;
  allowHost?: string[];
}

/** Register the `dashboard` command. */
export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('the web dashboard (counts, last hour, dead letter with Replay, per-call timeline) and /metrics, until SIGINT/SIGTERM')
    .option('--host <host>', 'address to bind (loopback unless you mean it)', DEFAULT_DASHBOARD_HOST)
    .option('--port <n>', 'port to listen on; 0 picks a free one', String(DEFAULT_DASHBOARD_PORT))
    .option('--allow-host <host>', 'another Host header to answer (name or name:port), e.g. behind a reverse proxy; repeatable', (v: string, all: string[] = []) => [...all, v])
    .addHelpText('after', '\n--show-pii (a global option) shows phone numbers and emails; loopback only.\nThe token for Replay is printed at start-up (or set CRM_DASHBOARD_TOKEN); paste it into the page, or open /#token=<token>.')
    .action(async (flags: DashboardFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const portText = (flags.port ?? String(DEFAULT_DASHBOARD_PORT)).trim();
        const port = Number(portText);
        if (!/^\d+$/.test(portText) || port > 65535) throw new CliExit(EXIT.USAGE, `error: --port must be a whole number from 0 to 65535, got "${flags.port}"`);
        const config = configFrom();
        const logger = cliLogger(globals);
        // Loaded here, not at the top: every other command would load the HTTP stack for nothing.
        const { startDashboard } = await import('../dashboard/server.ts');
        const dashboard = await startDashboard({ config, host: flags.host, port, allowHosts: flags.allowHost ?? [], showPii: globals.showPii === true, logger, processMetrics: true });
        say(`listening on ${dashboard.url}`);
        // Only a token made up now is printed: CRM_DASHBOARD_TOKEN from the environment stays out of the system logs.
        if (!dashboard.tokenFromConfig) say(`token: ${dashboard.token}`);
        for (const w of dashboard.warnings) say(`warning: ${w}`);
        if (config.alertWebhookUrl !== null && config.alertBacklogS !== null) say(`backlog alerts on: the oldest undelivered call older than ${config.alertBacklogS} s`);

        return new Promise<number>((finish) => {
          const uninstall = installSignalHandlers({
            stop: () => dashboard.close(),
            onSignal: (signal, second) => say(second ? `${signal}: exiting now` : `${signal}: stopping…`),
            exit: (code) => {
              if (code === 130) process.exit(130);
              uninstall();
              finish(code === 0 ? EXIT.OK : EXIT.FAILED);
            },
          });
        });
      });
    });
}
