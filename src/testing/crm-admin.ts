/**
 * A typed client of the local CRM's admin routes (`/__admin/…`): what a test reads back (requests seen,
 * calls stored, counters) and the faults it injects. Part of `crm-upload/testing`.
 */
import type { FaultState } from '../local-crm/faults.ts';
import type { FaultsUpdate } from '../local-crm/options.ts';
import type { LocalCrmStats, RequestRecord } from '../local-crm/request-log.ts';
import type { CallPayload } from '../payload/call-payload.ts';

/** A typed client of the local CRM's admin routes. */
export interface CrmAdmin {
  /** Every non-admin request seen (optionally only those after `since`). */
  requests(since?: number): Promise<RequestRecord[]>;
  /** Stored payloads. */
  calls(): Promise<CallPayload[]>;
  stats(): Promise<LocalCrmStats>;
  /** Change faults; resolves to the new fault state. Rejects on a 400 with the server's message. */
  faults(body: FaultsUpdate): Promise<FaultState>;
  reset(): Promise<void>;
  /** Resolves to false when there was no such call. */
  deleteCall(callId: string): Promise<boolean>;
  insertCall(payload: CallPayload): Promise<void>;
}

/** Admin client of the local CRM at `url` (its origin, e.g. `crm.url`). */
export function crmAdmin(url: string): CrmAdmin {
  const base = url.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown, okStatuses: number[] = [200, 201]): Promise<{ status: number; json: T }> => {
    const res = await fetch(`${base}/__admin${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as T;
    if (!okStatuses.includes(res.status)) throw new Error(`local CRM admin ${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return { status: res.status, json };
  };
  return {
    requests: async (since = 0) => (await call<RequestRecord[]>('GET', `/requests?since=${since}`)).json,
    calls: async () => (await call<CallPayload[]>('GET', '/calls')).json,
    stats: async () => (await call<LocalCrmStats>('GET', '/stats')).json,
    faults: async (body) => (await call<FaultState>('POST', '/faults', body)).json,
    reset: async () => {
      await call('POST', '/reset', {});
    },
    deleteCall: async (callId) => (await call('DELETE', `/calls/${encodeURIComponent(callId)}`, undefined, [200, 404])).status === 200,
    insertCall: async (payload) => {
      await call('POST', '/calls', payload);
    },
  };
}
