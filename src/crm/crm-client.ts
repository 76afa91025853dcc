/**
 * The interface of the HTTP client the worker talks to. The undici implementation lives in
 * `http-crm-client.ts`; the interface keeps the worker independent of the transport.
 */
import type { CallPayload } from '../payload/call-payload.ts';

/** What came back from one HTTP request, or how it failed. Never thrown: the worker classifies it. */
export type CrmResult =
  | {
      kind: 'response';
      status: number;
      /** Lower-cased response headers. */
      headers: Record<string, string>;
      /** Parsed JSON body when it was JSON, else the text (truncated to 2 kB). */
      body: unknown;
      durationMs: number;
    }
  | {
      kind: 'error';
      /** `timeout`, `network` (reset, refused, DNS…), `file` (the recording could not be read). */
      error: 'timeout' | 'network' | 'file';
      message: string;
      durationMs: number;
      /** The error's code when it had one (`ECONNREFUSED`, `UND_ERR_SOCKET`, `UND_ERR_HEADERS_TIMEOUT`…). */
      code?: string;
      /**
       * Whether the request (headers and whole body) had been written to the connection before it failed;
       * absent when the client cannot tell. Decides whether the CRM may hold what was sent
       * (`attempt-certainty.ts`).
       */
      requestSent?: boolean;
      /** Set when the caller's signal ended the request (the worker stopping). */
      aborted?: boolean;
    };

/** Options of one request. */
export interface RequestOptions {
  /** Sent as `Idempotency-Key`; stable across retries and restarts. */
  idempotencyKey: string;
  signal?: AbortSignal;
}

/** Filters of `GET call-data`. */
export interface ListCallDataQuery {
  campaignId?: string;
  voiceAgentId?: string;
  callId?: string;
  startDate?: string;
  endDate?: string;
  limit?: number;
  offset?: number;
}

/** The CRM's three endpoints. */
export interface CrmClient {
  postCallData(payload: CallPayload, options: RequestOptions): Promise<CrmResult>;
  /** Streams the file as multipart field `file`. The timeout grows with the file size. */
  uploadRecording(path: string, options: RequestOptions): Promise<CrmResult>;
  listCallData(query: ListCallDataQuery): Promise<CrmResult>;
  close(): Promise<void>;
}
