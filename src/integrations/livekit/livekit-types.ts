/**
 * The parts of LiveKit Agents for Node.js (`@livekit/agents` 1.x, `@livekit/rtc-node`) this
 * integration touches, as structural types. `@livekit/agents` is an optional peer dependency: nothing
 * here imports it, so `crm-upload/livekit` loads (and type-checks) without it, and the real
 * `JobContext` and `voice.AgentSession` fit these shapes (examples/livekit-agent.ts checks that). Tests
 * run the real ones (a text-only session with LiveKit's `FakeLLM`, no room), and an EventEmitter with
 * a plain object where a room is needed (SIP caller, egress, room metadata).
 */

/** `voice.AgentSessionEventTypes.ConversationItemAdded`: a message (or handoff) joined `session.history`. */
export const CONVERSATION_ITEM_ADDED = 'conversation_item_added';
/** `voice.AgentSessionEventTypes.FunctionToolsExecuted`: tool calls ran; their items are not announced otherwise. */
export const FUNCTION_TOOLS_EXECUTED = 'function_tools_executed';
/** `voice.AgentSessionEventTypes.Close`: the session closed (before the job's shutdown callbacks run). */
export const SESSION_CLOSE = 'close';
/** `RoomEvent.ParticipantConnected` of `@livekit/rtc-node`. */
export const PARTICIPANT_CONNECTED = 'participantConnected';
/** `RoomEvent.ParticipantAttributesChanged` of `@livekit/rtc-node`. */
export const PARTICIPANT_ATTRIBUTES_CHANGED = 'participantAttributesChanged';
/** `ParticipantKind.SIP` of `@livekit/rtc-node` (a phone caller). */
export const PARTICIPANT_KIND_SIP = 3;
/** The SIP participant attribute holding the caller's number (the number dialed, for outbound calls). */
export const SIP_PHONE_NUMBER_ATTRIBUTE = 'sip.phoneNumber';

/**
 * A listener as the emitters of LiveKit take it. Their listeners are typed per event; every listener
 * here reads its arguments as `unknown` and checks them, since a fake or a newer SDK may send others.
 */
export type Listener = (...args: unknown[]) => void;

/** An event emitter (`AgentSession`, `Room`): `off` is used when present. */
export interface EmitterLike {
  on(event: string, listener: Listener): unknown;
  off?(event: string, listener: Listener): unknown;
}

/** A room participant (`RemoteParticipant`). */
export interface ParticipantLike {
  readonly identity?: string;
  /** `ParticipantKind`: 3 is SIP. */
  readonly kind?: number;
  readonly attributes?: Readonly<Record<string, string>>;
}

/** The room (`Room` of `@livekit/rtc-node`). */
export interface RoomLike extends Partial<EmitterLike> {
  readonly name?: string | undefined;
  readonly metadata?: string | undefined;
  readonly remoteParticipants?: ReadonlyMap<string, ParticipantLike>;
}

/** The job as the server dispatched it (`proto.Job`). */
export interface JobLike {
  readonly id?: string;
  /** The dispatch's metadata: JSON text with campaign ids when the dispatcher put them there. */
  readonly metadata?: string;
  readonly room?: { readonly name?: string; readonly sid?: string; readonly metadata?: string } | undefined;
}

/** The agent's `JobContext`. */
export interface JobContextLike {
  addShutdownCallback(callback: () => Promise<void>): void;
  readonly job?: JobLike;
  readonly room?: RoomLike;
  /** Where the session's own recording goes (`<sessionDirectory>/audio.ogg`). */
  readonly sessionDirectory?: string;
}

/** Options of `ChatContext.toJSON` that this integration uses. */
export interface HistoryJsonOptions {
  excludeTimestamp?: boolean;
  excludeImage?: boolean;
  excludeAudio?: boolean;
  stripMarkup?: boolean;
}

/** The agent's `voice.AgentSession`. */
export interface AgentSessionLike extends EmitterLike {
  /** `session.history`, a `ChatContext`. */
  readonly history?: { toJSON(options?: HistoryJsonOptions): unknown };
  /**
   * The session's recorder when `session.start({ record })` records audio (internal to
   * `@livekit/agents` 1.9: `AgentSession._recorderIO`, whose `outputPath` is
   * `<ctx.sessionDirectory>/audio.ogg`). Read only, and only when present.
   */
  readonly _recorderIO?: { readonly outputPath?: string | undefined; readonly recordingStartedAt?: number | undefined } | undefined;
}
