/**
 * `crm-upload send <transcript> [--lead F] [--recording F] [--manifest F] [--caller-phone P]
 * [--call-id ID] [--max-wait DUR] [--dry-run] [--json]`: one call. `--dry-run` prints the exact payload
 * and sends nothing; otherwise the call is enqueued and delivered now.
 */
import type { Command } from 'commander';
import { prepareCall } from '../api/prepare-call.ts';
import { DEFAULT_MAX_WAIT_MS, enqueueAndDeliver } from '../api/upload-call.ts';
import { parseDuration } from '../config/duration.ts';
import { maskText } from '../log/mask.ts';
import { callIdProblem, shownCallId } from '../payload/call-id-rules.ts';
import { interruptExitCode, interruptedLine, onInterrupt, sayInterrupt } from './interrupt.ts';
import { CliExit, cliLogger, configFrom, EXIT, out, runAction, say, type GlobalOptions } from './context.ts';

interface SendFlags {
  lead?: string;
  recording?: string;
  manifest?: string;
  callerPhone?: string;
  callId?: string;
  maxWait?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Parse `--max-wait`; a bad value is a usage error naming the flag. */
export function maxWaitFlag(value: string | undefined): number {
  if (value === undefined) return DEFAULT_MAX_WAIT_MS;
  const ms = parseDuration(value);
  if (ms === null) throw new CliExit(EXIT.USAGE, `error: --max-wait must be a duration such as 30s or 2m, got "${value}"`);
  return ms;
}

/** Register the `send` command. */
export function registerSend(program: Command): void {
  program
    .command('send')
    .description('send one call: enqueue it and deliver it now (--dry-run prints the payload)')
    .argument('[transcript]', 'conversation file (any supported format); optional with --manifest')
    .option('--lead <file>', 'lead file of this call')
    .option('--recording <file>', 'recording of this call (uploaded first)')
    .option('--manifest <file>', 'call manifest naming the conversation, recording and lead')
    .option('--caller-phone <phone>', 'caller number (wins over every other source)')
    .option('--call-id <id>', 'call id to use instead of the derived one')
    .option('--max-wait <duration>', 'how long to keep delivering before leaving the call to the worker', '2m')
    .option('--dry-run', 'print the exact payload JSON and send nothing')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (transcript: string | undefined, flags: SendFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        if (!transcript && !flags.manifest) throw new CliExit(EXIT.USAGE, 'error: give a transcript file, or --manifest');
        const maxWaitMs = maxWaitFlag(flags.maxWait);
        const idProblem = flags.callId === undefined ? null : callIdProblem(flags.callId);
        if (idProblem !== null) throw new CliExit(EXIT.USAGE, `error: --call-id ${shownCallId(flags.callId)} is invalid: ${idProblem} (1-128 of A-Z a-z 0-9 . _ -, not only digits)`);
        const config = configFrom();
        const prepared = await prepareCall(
          {
            transcript,
            lead: flags.lead,
            recording: flags.recording,
            manifest: flags.manifest,
            callerPhone: flags.callerPhone,
            callId: flags.callId,
          },
          config,
        );
        for (const w of prepared.warnings) say(`warning: ${globals.showPii ? w.message : maskText(w.message)}`);
        if (flags.dryRun) {
          out(JSON.stringify(prepared.payload));
          return EXIT.OK;
        }
        // Kept until the process ends, so that a second Ctrl-C during the last commit still exits at once.
        const interrupt = onInterrupt({ onSignal: sayInterrupt(say) });
        const result = await enqueueAndDeliver(prepared, { config, logger: cliLogger(globals), maxWaitMs, signal: interrupt.signal });
        const received = interrupt.received;
        if (flags.json) {
          const { payload: _payload, ...rest } = result;
          out(JSON.stringify({ ...rest, interrupted: received !== null }));
        }
        const already = result.enqueued ? '' : ' (already in the outbox)';
        if (result.state === 'delivered') {
          say(`delivered ${result.callId}${already}${result.recordingUrl ? ` with recording ${result.recordingUrl}` : ''}`);
          return EXIT.OK;
        }
        if (result.state === 'dead') {
          say(`dead ${result.callId}: ${result.lastError ?? 'refused'} (status ${result.lastStatus ?? '-'}); see dead-letter list`);
          return EXIT.FAILED;
        }
        say(`queued ${result.callId}: not delivered yet after ${result.attempts} attempt(s) (${result.lastError ?? 'waiting'}); crm-upload worker will retry`);
        if (received !== null) {
          say(interruptedLine(received));
          return interruptExitCode(received);
        }
        return EXIT.FAILED;
      });
    });
}
