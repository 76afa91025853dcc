/**
 * `crm-upload dead-letter list [--json]` (what failed for good, and why) and
 * `crm-upload dead-letter replay <callId…> | --all` (back to pending, due now, attempts reset; the worker
 * then sends each once more under the same Idempotency-Key).
 */
import type { Command } from 'commander';
import type { OutboxItem, OutboxStore } from '../outbox/outbox-store.ts';
import { isValidCallId, shownCallId } from '../payload/call-id-rules.ts';
import { CliExit, configFrom, EXIT, out, runAction, say, type GlobalOptions, withOutbox } from './context.ts';

/** One dead item as `dead-letter list --json` prints it. */
export interface DeadLetterLine {
  callId: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  sourceFile: string | null;
  /** When it went dead (its last change), ISO. */
  deadAt: string;
}

/** The JSON line of one dead item. */
export function deadLetterLine(item: OutboxItem): DeadLetterLine {
  return {
    callId: item.callId,
    attempts: item.attempts,
    lastStatus: item.lastStatus,
    lastError: item.lastError,
    sourceFile: item.sourceFile,
    deadAt: new Date(item.updatedAt).toISOString(),
  };
}

/** Every dead item, oldest first, read page by page. */
export async function listDead(store: OutboxStore, pageSize = 500): Promise<OutboxItem[]> {
  const all: OutboxItem[] = [];
  for (let offset = 0; ; offset += pageSize) {
    const page = await store.list({ state: 'dead', limit: pageSize, offset });
    all.push(...page);
    if (page.length < pageSize) return all;
  }
}

/** Register `dead-letter list` and `dead-letter replay`. */
export function registerDeadLetter(program: Command): void {
  const group = program.command('dead-letter').description('calls that failed for good: list them, or replay them');

  group
    .command('list')
    .description('dead items with their attempts, last status and error, and source file')
    .option('--json', 'print a JSON array on stdout')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        return withOutbox(async (store) => {
          const lines = (await listDead(store)).map(deadLetterLine);
          if (flags.json) {
            out(JSON.stringify(lines));
          } else if (lines.length === 0) {
            say('no dead items');
          } else {
            for (const l of lines) {
              say(`${l.callId}  attempts ${l.attempts}  status ${l.lastStatus ?? '-'}  ${l.sourceFile ?? ''}`);
              say(`    ${l.lastError ?? '(no message)'}`);
            }
            say(`${lines.length} dead; replay with: crm-upload dead-letter replay <callId…> | --all`);
          }
          return EXIT.OK;
        });
      });
    });

  group
    .command('replay')
    .description('put dead items back to pending (due now, attempts reset); the worker sends them again')
    .argument('[callIds...]', 'callIds to replay')
    .option('--all', 'replay every dead item')
    .action(async (callIds: string[], flags: { all?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        if (flags.all && callIds.length > 0) throw new CliExit(EXIT.USAGE, 'error: give callIds or --all, not both');
        if (!flags.all && callIds.length === 0) throw new CliExit(EXIT.USAGE, 'error: give the callIds to replay, or --all');
        return withOutbox(async (store) => {
          if (flags.all) {
            const moved = await store.replay('all');
            say(`replayed ${moved} dead item${moved === 1 ? '' : 's'}`);
            return EXIT.OK;
          }
          const ids = [...new Set(callIds)];
          const bad = ids.filter((id) => !isValidCallId(id));
          if (bad.length > 0) throw new CliExit(EXIT.USAGE, `error: invalid callId ${bad.map((id) => shownCallId(id)).join(', ')}: 1-128 of A-Z a-z 0-9 . _ -, not only digits`);
          const before = await store.states(ids);
          const moved = await store.replay(ids);
          const notDead = ids.filter((id) => before.get(id) !== 'dead');
          for (const id of notDead) say(`not replayed: ${id} is ${before.get(id) ?? 'not in the outbox'}`);
          say(`replayed ${moved} dead item${moved === 1 ? '' : 's'}`);
          return notDead.length > 0 ? EXIT.FAILED : EXIT.OK;
        });
      });
    });
}
