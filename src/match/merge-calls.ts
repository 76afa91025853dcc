/**
 * One call found through several files is one call, sent once (docs/architecture.md, after "Inputs seen in real
 * deployments"): a manifest and the conversation it names, and the same conversation saved in two
 * formats (a LiveKit history dump and a Mongo export of it), recognised by overlapping item ids.
 */
import type { CallRecord, ManifestRecord, TimesSource, ToolCall } from '../ingest/call-record.ts';
import type { MatchError, MatchWarning } from './match-types.ts';
import { UnionFind } from './union-find.ts';

/** The files that make up one call: its conversation files, and the manifest that names one of them. */
export interface CallGroup {
  records: CallRecord[];
  manifest: ManifestRecord | null;
}

/** The calls of a run and the files for which nothing can be sent. */
export interface GroupResult {
  groups: CallGroup[];
  /** Manifests whose conversation was not found; nothing is sent for them. */
  errors: MatchError[];
  /** Oddities that did not stop grouping (two manifests for one call, conflicting session ids). */
  warnings: MatchWarning[];
}

/** Times a conversation file knows by itself; anything else is a guess a manifest may replace. */
const OWN_TIMES: ReadonlySet<TimesSource> = new Set<TimesSource>(['session', 'items', 'argument']);

/** True when the record's times came from its own content, not from a file name or mtime. */
export function hasOwnTimes(call: CallRecord): boolean {
  return call.startTime !== null && call.timesFrom !== null && OWN_TIMES.has(call.timesFrom);
}

/**
 * Group conversation records that are one call and attach each manifest to the call it names.
 * Records sharing any message item id are one call (transitively). A manifest goes with the group of
 * the conversation at `files.conversation` (a resolved path, compared with `CallRecord.file`); a
 * manifest naming no conversation that was read is an error naming the manifest. Groups come in the
 * order of their first record in `calls`, so the output is deterministic for a deterministic walk.
 */
export function groupCalls(calls: readonly CallRecord[], manifests: readonly ManifestRecord[]): GroupResult {
  // The earliest record stays the root, so that group order follows input order.
  const records = new UnionFind(calls.length);
  const byItemId = new Map<string, number>();
  calls.forEach((call, i) => {
    for (const item of call.items) {
      if (item.id === undefined || item.id === '') continue;
      const seen = byItemId.get(item.id);
      if (seen === undefined) byItemId.set(item.id, i);
      else records.union(seen, i);
    }
  });

  const groupOfRoot = new Map<number, CallGroup>();
  const groups: CallGroup[] = [];
  calls.forEach((call, i) => {
    const r = records.find(i);
    let group = groupOfRoot.get(r);
    if (group === undefined) {
      group = { records: [], manifest: null };
      groupOfRoot.set(r, group);
      groups.push(group);
    }
    group.records.push(call);
  });

  const indexOfFile = new Map<string, number>();
  if (manifests.length > 0) {
    calls.forEach((call, i) => {
      if (!indexOfFile.has(call.file)) indexOfFile.set(call.file, i);
    });
  }

  const errors: MatchError[] = [];
  const warnings: MatchWarning[] = [];
  for (const manifest of manifests) {
    const wanted = manifest.files.conversation;
    const index = wanted === null ? undefined : indexOfFile.get(wanted);
    if (index === undefined) {
      const named = wanted ?? manifest.rawFiles?.conversation ?? null;
      errors.push({
        file: manifest.file,
        reason:
          named === null
            ? 'the manifest names no conversation; nothing is sent for it'
            : `its conversation ${named} was not found among the conversations read; nothing is sent for it`,
      });
      continue;
    }
    const group = groupOfRoot.get(records.find(index))!;
    if (group.manifest !== null) {
      warnings.push({
        code: 'W_DUPLICATE_MANIFEST',
        message: `manifest ${manifest.file} names the same call as ${group.manifest.file}; the first one is used`,
        files: [manifest.file, group.manifest.file, wanted!],
      });
      continue;
    }
    group.manifest = manifest;
  }

  for (const group of groups) {
    if (group.records.length < 2) continue;
    const ids = new Set(group.records.filter((r) => !r.sessionIdDerived).map((r) => r.sessionId));
    if (ids.size > 1) {
      warnings.push({
        code: 'W_CONFLICTING_SESSION_IDS',
        message: `files sharing message item ids carry different session ids (${[...ids].join(', ')}); they are sent as one call`,
        files: group.records.map((r) => r.file),
      });
    }
  }
  return { groups, errors, warnings };
}

/** JSON with sorted keys, so that equal arguments give equal text whatever their key order. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Number of items carrying a time; breaks ties between two copies of the same conversation. */
function timedItems(call: CallRecord): number {
  let n = 0;
  for (const item of call.items) if (item.timestamp !== null) n++;
  return n;
}

/**
 * Merge the records of one call into one. The record with a read (not derived) session id and its
 * own times provides sessionId, times, campaign and metadata, so that the callId is the one the
 * session knew; the items come from the record with the most items (ties: the one with more item
 * timestamps), since a dump may have lost the tail of a call; tool calls are the union of all
 * records (deduplicated by name and arguments). A single record is returned as a copy.
 */
export function mergeCallRecords(records: readonly CallRecord[]): CallRecord {
  const first = records[0];
  if (first === undefined) throw new Error('mergeCallRecords needs at least one record');
  // Most calls are one file: skip the deduplication work, which dominates large runs.
  if (records.length === 1) return { ...first, items: [...first.items], toolCalls: [...first.toolCalls], metadata: { ...first.metadata } };
  const score = (r: CallRecord): number => (r.sessionIdDerived ? 0 : 2) + (hasOwnTimes(r) ? 1 : 0);
  let provider = first;
  let itemsFrom = first;
  for (const r of records) {
    if (score(r) > score(provider)) provider = r;
    if (r.items.length > itemsFrom.items.length || (r.items.length === itemsFrom.items.length && timedItems(r) > timedItems(itemsFrom))) {
      itemsFrom = r;
    }
  }

  const toolCalls: ToolCall[] = [];
  const seen = new Map<string, number>();
  for (const r of [itemsFrom, ...records.filter((x) => x !== itemsFrom)]) {
    for (const t of r.toolCalls) {
      const key = `${t.name}\u0000${stableJson(t.arguments)}`;
      const at = seen.get(key);
      if (at === undefined) {
        seen.set(key, toolCalls.length);
        toolCalls.push({ ...t });
      } else if (toolCalls[at]!.timestamp === null && t.timestamp !== null) {
        // The copy without times (LiveKit dump) must not hide when the lead was created.
        toolCalls[at] = { ...toolCalls[at]!, timestamp: t.timestamp };
      }
    }
  }

  const others = records.filter((r) => r !== provider);
  const metadata: Record<string, unknown> = {};
  for (const r of [...others].reverse()) Object.assign(metadata, r.metadata);
  Object.assign(metadata, provider.metadata);

  return {
    ...provider,
    items: [...itemsFrom.items],
    toolCalls,
    campaign: provider.campaign ?? others.find((r) => r.campaign !== null)?.campaign ?? null,
    callerNumber: provider.callerNumber ?? others.find((r) => r.callerNumber !== null)?.callerNumber ?? null,
    metadata,
  };
}

/**
 * Apply a manifest to the call it names. The conversation's own times win; the manifest fills what
 * the conversation lacks: times (then `timesFrom` is `manifest`), the session id when the
 * conversation's was derived (so the callId is the session's), the campaign when the call has none,
 * and the caller number (`dialed_number`, which the payload mapping ranks above the call's own data;
 * docs/architecture.md, "Payload" → "Caller number").
 */
export function applyManifest(call: CallRecord, manifest: ManifestRecord): CallRecord {
  const out: CallRecord = { ...call };
  if (!hasOwnTimes(call) && (manifest.startTime !== null || manifest.endTime !== null)) {
    out.startTime = manifest.startTime ?? manifest.endTime;
    out.endTime = manifest.endTime ?? manifest.startTime;
    out.timesFrom = 'manifest';
  } else if (hasOwnTimes(call) && call.endTime === null && manifest.endTime !== null) {
    out.endTime = manifest.endTime;
  }
  if (call.sessionIdDerived && manifest.sessionId !== null && manifest.sessionId !== '') {
    out.sessionId = manifest.sessionId;
    out.sessionIdDerived = false;
  }
  if (call.campaign === null && manifest.campaign !== null) out.campaign = manifest.campaign;
  if (manifest.dialedNumber !== null && manifest.dialedNumber.trim() !== '') out.callerNumber = manifest.dialedNumber;
  return out;
}
