/**
 * The caller's number from the room: LiveKit telephony puts the caller in the room as a participant of
 * kind SIP whose `sip.phoneNumber` attribute is the caller's number (for an outbound call, the number
 * dialed). A participant is gone from `room.remoteParticipants` once it has left, and the job's
 * shutdown callbacks run after the room is disconnected, so the number is read while the call is on.
 */
import { PARTICIPANT_KIND_SIP, SIP_PHONE_NUMBER_ATTRIBUTE, type ParticipantLike, type RoomLike } from './livekit-types.ts';

/** The caller number a participant carries, or null when it is not a phone caller. */
export function callerOfParticipant(participant: ParticipantLike | null | undefined): string | null {
  const value = participant?.attributes?.[SIP_PHONE_NUMBER_ATTRIBUTE];
  if (typeof value !== 'string' || value.trim() === '') return null;
  // Some deployments forward SIP attributes to other participants; a SIP participant's own wins below.
  return value.trim();
}

/**
 * The caller number among the room's participants: a SIP participant's first, then any participant
 * carrying `sip.phoneNumber`; null when nobody does (a web or console call).
 */
export function callerFromRoom(room: RoomLike | null | undefined): string | null {
  const participants = room?.remoteParticipants;
  if (participants === undefined) return null;
  let fallback: string | null = null;
  for (const participant of participants.values()) {
    const number = callerOfParticipant(participant);
    if (number === null) continue;
    if (participant.kind === PARTICIPANT_KIND_SIP) return number;
    fallback ??= number;
  }
  return fallback;
}
