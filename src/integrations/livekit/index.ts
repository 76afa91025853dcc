/**
 * `crm-upload/livekit`: LiveKit Agents for Node.js (`@livekit/agents` 1.x, an optional peer
 * dependency). `attachCrmUpload(ctx, session, options)` in the agent's entry function journals the
 * conversation as it happens and enqueues the call durably when the job shuts down;
 * `recoverPartials(dir)` (also `crm-upload recover`) finalises the journals of calls that crashed.
 * Nothing here loads `@livekit/agents` at run time.
 */
export { attachCrmUpload, DEFAULT_SHUTDOWN_TIMEOUT_MS } from './attach-crm-upload.ts';
export type { AttachCrmUploadOptions, CrmUploadAttachment } from './attach-crm-upload.ts';
export { recoverPartials, DEFAULT_STALE_AFTER_MS } from './recover-partials.ts';
export type { RecoverOptions, RecoverResult } from './recover-partials.ts';
export type { FinalizeResult } from './finalize-session.ts';
export { callerFromRoom, callerOfParticipant } from './caller-from-room.ts';
export { parseCallInfo } from './call-metadata.ts';
export type { CallCampaign, JobCallInfo } from './call-metadata.ts';
export { sessionItemOf, sessionItemsOfHistory } from './chat-items.ts';
export { journalFileName, isJournalName, readJournal, JOURNAL_PREFIX, JOURNAL_SUFFIX, E_JOURNAL_HEADER } from './session-journal.ts';
export type { JournalState, JournalHeader, JournalLine, ParsedJournal } from './session-journal.ts';
export { AGENT_RECORDING_NAME } from './find-recording.ts';
export type { AgentSessionLike, JobContextLike, RoomLike, ParticipantLike, JobLike, EmitterLike, HistoryJsonOptions } from './livekit-types.ts';
export {
  CONVERSATION_ITEM_ADDED,
  FUNCTION_TOOLS_EXECUTED,
  SESSION_CLOSE,
  PARTICIPANT_KIND_SIP,
  SIP_PHONE_NUMBER_ATTRIBUTE,
} from './livekit-types.ts';
