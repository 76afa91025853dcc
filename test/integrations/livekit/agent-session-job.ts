/**
 * A LiveKit Agents job run the way `@livekit/agents` 1.x runs one in console mode (its `console.js`),
 * with nothing hand-made where the library has the real thing: a real `JobContext` (`fakeJob: true`,
 * a real unconnected `Room` of `@livekit/rtc-node`), a real `voice.AgentSession` driven by text
 * (`session.run({ userInput })`), the library's own `voice.testing.FakeLLM` for scripted answers and
 * tool calls, and a real `llm.tool` named `create_lead`. Nothing reaches a server or loads a model:
 * no STT, no TTS, no VAD (`vad: null`; the default would be the bundled Silero), manual turn
 * detection (the default turn detector wants a VAD model).
 *
 * The job shuts down in the runner's order: the session is closed (`finalizeSession` closes the
 * primary session), the room disconnected, then every shutdown callback runs side by side and a
 * rejection is only logged (`runShutdownCallbacks`).
 */
import dc from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { APIConnectionError, DEFAULT_API_CONNECT_OPTIONS, initializeLogger, JobContext, JobProcess, llm, runWithJobContextAsync, voice, type RunningJobInfo } from '@livekit/agents';
import { Room } from '@livekit/rtc-node';
import { z } from 'zod';

// The library's logger must exist before a JobContext or a session does; its own tests keep it silent.
initializeLogger({ pretty: false, level: 'silent' });

/** The arguments `create_lead` takes: what the caller gave the agent. */
export const LEAD_ARGUMENTS = z.object({
  name: z.string().describe("The caller's full name"),
  email: z.string().describe("The caller's email address"),
  company: z.string().describe("The caller's company"),
  interest: z.string().describe('What the caller wants'),
});

/** Arguments `create_lead` was called with. */
export type LeadArguments = z.infer<typeof LEAD_ARGUMENTS>;

/**
 * The agent under test: a prompt and one function tool, `create_lead`, whose body the test gives
 * (it may save the lead somewhere, or throw as a failing backend would).
 */
export function leadAgent(saveLead: (args: LeadArguments) => Promise<string>): voice.Agent {
  return new voice.Agent({
    instructions: 'You are Friday, a sales assistant. Collect the caller’s details and save them with create_lead.',
    tools: {
      create_lead: llm.tool({
        description: 'Save the caller as a sales lead',
        parameters: LEAD_ARGUMENTS,
        execute: async (args) => saveLead(args),
      }),
    },
  });
}

/** The stream of a model provider that is down: fails at once, and says a retry will not help. */
class ProviderDownStream extends llm.LLMStream {
  protected async run(): Promise<void> {
    throw new APIConnectionError({ message: 'the model provider is down', options: { retryable: false } });
  }
}

/**
 * `voice.testing.FakeLLM` (scripted answers and tool calls, looked up by the last user message or tool
 * output), except that a user message listed in `outageOn` meets a provider that is down: the
 * stream fails as a real plugin's does when its API refuses, through the library's own error path.
 */
export class ScriptedLLM extends voice.testing.FakeLLM {
  readonly #outageOn: ReadonlySet<string>;

  constructor(responses: voice.testing.FakeLLMResponse[], outageOn: readonly string[] = []) {
    super(responses);
    this.#outageOn = new Set(outageOn);
  }

  override chat(options: Parameters<voice.testing.FakeLLM['chat']>[0]): llm.LLMStream {
    const last = options.chatCtx.items.at(-1);
    if (last?.type === 'message' && last.role === 'user' && this.#outageOn.has(last.textContent ?? '')) {
      return new ProviderDownStream(this, { chatCtx: options.chatCtx, toolCtx: options.toolCtx, connOptions: options.connOptions ?? DEFAULT_API_CONNECT_OPTIONS });
    }
    return super.chat(options);
  }
}

/**
 * A text-only session: the scripted model and nothing else. One unrecoverable model error closes
 * it (`maxUnrecoverableErrors: 0`; the default 3 lets a session survive a few failed turns). No
 * "user away" timer: a reply that settles as the session closes can still arm its 15 s timer, which
 * would hold the test process open after the tests end.
 */
export function textSession(model: llm.LLM): voice.AgentSession {
  return new voice.AgentSession({
    llm: model,
    vad: null,
    turnHandling: { turnDetection: 'manual' },
    userAwayTimeout: null,
    connOptions: { maxUnrecoverableErrors: 0, llmConnOptions: { maxRetry: 0 } },
  });
}

/** What the dispatcher gave the job. */
export interface JobOptions {
  jobId: string;
  /** The job's metadata, as an agent dispatch carries it (JSON text). */
  metadata: string;
  roomName?: string;
}

/** A job of the console runner's kind, and its shutdown. */
export interface ConsoleJob {
  ctx: JobContext;
  /** Run the entry function in the job's context, as the runner does. */
  run<T>(entry: (ctx: JobContext) => Promise<T>): Promise<T>;
  /** Shut the job down as the runner does; resolves once every shutdown callback has settled. */
  shutdown(session: voice.AgentSession): Promise<void>;
}

/** A job not backed by a LiveKit server, built as `@livekit/agents`' console mode builds its own. */
export function consoleJob(options: JobOptions): ConsoleJob {
  const room = new Room();
  // The runner's `proto.Job`; only the fields a job reads are given (an unconnected room has no name,
  // so the dispatched room's name is the one the job knows).
  const job = { id: options.jobId, metadata: options.metadata, room: { name: options.roomName ?? 'console-room' }, enableRecording: false } as unknown as RunningJobInfo['job'];
  const info: RunningJobInfo = { acceptArguments: { name: '', identity: 'agent', metadata: '' }, job, url: '', token: '', workerId: 'console', fakeJob: true };
  // No inference runs here (no turn detector model): the executor is never called.
  const executor = {} as ConstructorParameters<typeof JobContext>[5];
  const ctx = new JobContext(new JobProcess(), info, room, () => {}, () => {}, executor);
  return {
    ctx,
    run: (entry) => runWithJobContextAsync(ctx, () => entry(ctx)),
    async shutdown(session) {
      await session.close();
      await room.disconnect();
      await Promise.allSettled(ctx.shutdownCallbacks.map((callback) => Promise.resolve().then(callback)));
    },
  };
}

/** Every outgoing connection and host name lookup made while it watched. */
export interface NetworkWatch {
  /** `ip:port` of each connection attempt. */
  readonly connections: string[];
  /** Host names looked up. */
  readonly lookups: string[];
  stop(): void;
}

/**
 * Watch the process's outgoing sockets (Node's `net.client.socket` diagnostics channel, which
 * `fetch`/undici and `http` go through): a test can then say the session reached nothing but the
 * local CRM.
 */
export function watchNetwork(): NetworkWatch {
  const connections: string[] = [];
  const lookups: string[] = [];
  const onSocket = (message: unknown) => {
    const socket = (message as { socket?: Socket }).socket;
    socket?.on('connectionAttempt', (ip: string, port: number) => connections.push(`${ip}:${port}`));
    socket?.on('lookup', (_err: Error | null, _address: string, _family: unknown, host: string) => lookups.push(host));
  };
  dc.subscribe('net.client.socket', onSocket);
  return { connections, lookups, stop: () => dc.unsubscribe('net.client.socket', onSocket) };
}
