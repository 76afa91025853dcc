/**
 * What `GET /v1/calls/:callId` answers about an outbox item: its state and delivery history, never its
 * payload, and with phone numbers and emails masked out of the CRM's messages (an agent's status poll
 * is no place for a caller's details).
 */
import { maskText } from '../log/mask.ts';
import type { OutboxItem, OutboxState } from '../outbox/outbox-store.ts';

/** The answer of `GET /v1/calls/:callId`. Times are ISO 8601 UTC. */
export interface CallStatus {
  callId: string;
  status: OutboxState;
  /** Attempts used so far (rate-limited waits do not count). */
  attempts: number;
  /** HTTP status of the last answer from the CRM, or null. */
  lastStatus: number | null;
  /** Why the last attempt failed (masked), or null. */
  lastError: string | null;
  recording: {
    /** Whether the call has a recording to upload. */
    attached: boolean;
    /** Whether it is uploaded (its URL is stored on the item). */
    uploaded: boolean;
    /** Why the call went (or goes) out without it (masked), or null. */
    note: string | null;
  };
  createdAt: string;
  updatedAt: string;
  /** When the next attempt may run (pending items), or null. */
  nextAttemptAt: string | null;
  deliveredAt: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const masked = (text: string | null): string | null => (text === null ? null : maskText(text));

/** The status of an item. */
export function callStatusOf(item: OutboxItem): CallStatus {
  return {
    callId: item.callId,
    status: item.state,
    attempts: item.attempts,
    lastStatus: item.lastStatus,
    lastError: masked(item.lastError),
    recording: { attached: item.recording.path !== null, uploaded: item.recording.url !== null, note: masked(item.recording.note) },
    createdAt: new Date(item.createdAt).toISOString(),
    updatedAt: new Date(item.updatedAt).toISOString(),
    nextAttemptAt: item.state === 'pending' ? iso(item.nextAttemptAt) : null,
    deliveredAt: iso(item.deliveredAt),
  };
}
