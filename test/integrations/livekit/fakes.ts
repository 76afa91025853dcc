/**
 * Stand-ins for what a LiveKit job gives the entry function, for tests that run without a LiveKit
 * server: an EventEmitter as the AgentSession (with the real `llm.ChatContext` as its history, when
 * the test passes one), a plain JobContext whose shutdown callbacks the test runs, and a room with
 * remote participants. Also the config and folders of a test.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { loadConfig, type Config } from '../../../src/config/config.ts';
import type { AgentSessionLike, JobContextLike, ParticipantLike } from '../../../src/integrations/livekit/livekit-types.ts';
import { startTestCrm } from '../../helpers/local-crm.ts';

/** A participant of kind SIP (ParticipantKind.SIP = 3) with LiveKit's SIP attributes. */
export function sipParticipant(phoneNumber: string, identity = `sip_${phoneNumber.replace(/\D/g, '')}`): ParticipantLike {
  return {
    identity,
    kind: 3,
    attributes: { 'sip.phoneNumber': phoneNumber, 'sip.trunkPhoneNumber': '+918000000000', 'sip.callStatus': 'active' },
  };
}

/** The room of a fake job: an emitter with `remoteParticipants`. */
export class FakeRoom extends EventEmitter {
  readonly name: string;
  metadata: string | undefined;
  readonly remoteParticipants = new Map<string, ParticipantLike>();
  constructor(name: string, metadata?: string) {
    super();
    this.name = name;
    this.metadata = metadata;
  }
  /** A participant joins (`participantConnected`). */
  join(participant: ParticipantLike): void {
    this.remoteParticipants.set(participant.identity ?? String(this.remoteParticipants.size), participant);
    this.emit('participantConnected', participant);
  }
  /** Everyone leaves, as when the room is disconnected before the shutdown callbacks run. */
  disconnect(): void {
    this.remoteParticipants.clear();
  }
}

/** A fake JobContext: collects shutdown callbacks and runs them the way LiveKit does. */
export interface FakeJob {
  ctx: JobContextLike;
  room: FakeRoom;
  /** Run every shutdown callback (in parallel, as `runShutdownCallbacks` does); resolves to the ms it took. */
  shutdown(): Promise<number>;
}

/** Options of `fakeJob`. */
export interface FakeJobOptions {
  jobId?: string;
  metadata?: string;
  roomName?: string;
  roomMetadata?: string;
  sessionDirectory?: string;
}

/** A fake job with a room. */
export function fakeJob(options: FakeJobOptions = {}): FakeJob {
  const callbacks: (() => Promise<void>)[] = [];
  const room = new FakeRoom(options.roomName ?? 'call-room', options.roomMetadata);
  const ctx: JobContextLike = {
    addShutdownCallback: (cb) => {
      callbacks.push(cb);
    },
    job: { id: options.jobId ?? 'AJ_test', metadata: options.metadata ?? '', room: { name: room.name, sid: 'RM_test' } },
    room,
    ...(options.sessionDirectory === undefined ? {} : { sessionDirectory: options.sessionDirectory }),
  };
  return {
    ctx,
    room,
    async shutdown() {
      room.disconnect();
      const t0 = performance.now();
      const results = await Promise.allSettled(callbacks.map((cb) => Promise.resolve().then(cb)));
      const ms = performance.now() - t0;
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      return ms;
    },
  };
}

/** An EventEmitter standing in for `voice.AgentSession`. */
export class FakeSession extends EventEmitter implements AgentSessionLike {
  history: AgentSessionLike['history'];
  _recorderIO: AgentSessionLike['_recorderIO'];
  constructor(history?: AgentSessionLike['history']) {
    super();
    this.history = history;
  }
}

/** A temporary folder removed after the test. */
export function tempDir(t: TestContext, prefix = 'crm-livekit-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment of a test: folders under `dir`, the CRM at `apiUrl`, fast retries. */
export function testEnv(dir: string, apiUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CRM_API_URL: apiUrl,
    CRM_OUTBOX: join(dir, 'outbox.db'),
    CRM_CONVERSATIONS_DIR: join(dir, 'conversations'),
    CRM_RECORDINGS_DIR: join(dir, 'recordings'),
    CRM_CAMPAIGN_ID: 'camp',
    CRM_VOICE_AGENT_ID: 'agent',
    CRM_CLIENT_ID: 'client',
    CRM_RATE_LIMIT: '0',
    CRM_RETRY_SCHEDULE: '50ms',
    CRM_MAX_ATTEMPTS: '100',
    CRM_RECORDING_WAIT_MS: '2s',
    CRM_TIMEOUT_MS: '5s',
    ...extra,
  };
}

/** The config of `testEnv`. */
export function testConfig(dir: string, apiUrl: string, extra: Record<string, string> = {}): Config {
  return loadConfig({ cwd: dir, envFile: null, env: testEnv(dir, apiUrl, extra) });
}

/** A CRM URL nothing listens on: a local CRM's, once it has closed. */
export async function downCrmUrl(): Promise<string> {
  const gone = await startTestCrm();
  await gone.close();
  return gone.callDataUrl;
}
