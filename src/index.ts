/**
 * crm-upload: deliver every voice-agent call to the CRM exactly once, through a durable outbox.
 * The library API mirrors the seed module's functions in camelCase (docs/architecture.md, "Library API").
 */
export { uploadCallDataFromSession, convertTranscriptToApiFormat, convertLeadToApiFormat, createCallDetails, sessionToPayload } from './api/session-api.ts';
export type { SessionObject, SessionOptions } from './api/session-api.ts';
export { uploadFromTranscriptFile, enqueueAndDeliver, DEFAULT_MAX_WAIT_MS } from './api/upload-call.ts';
export type { UploadCallOptions, UploadCallResult } from './api/upload-call.ts';
export { prepareCall } from './api/prepare-call.ts';
export type { CallFiles, PreparedCall } from './api/prepare-call.ts';
export { bulkUploadFromDirectory } from './api/bulk-upload.ts';
export type { BulkOptions, BulkProgress } from './api/bulk-upload.ts';
export type { BulkSummary, BulkError } from './bulk/summary.ts';
export { watchFolders } from './api/watch-folders.ts';
export type { WatchOptions, WatchHandle } from './api/watch-folders.ts';
export { TranscriptLogger } from './logger/transcript-logger.ts';
export type { TranscriptSession, TranscriptItem, TranscriptEvent, ChatMessageItem, FunctionCallItem, SaveResult, TranscriptLoggerOptions, ToolCallOptions, SessionTime } from './logger/transcript-logger.ts';
export { createOutbox } from './outbox/create-outbox.ts';
export type { OutboxStore, OutboxItem, OutboxState, OutboxCounts, NewOutboxItem, Settlement } from './outbox/outbox-store.ts';
export { startWorker, deliverCalls } from './worker/worker.ts';
export type { WorkerOptions, WorkerHandle, WorkerSummary } from './worker/worker.ts';
export { crmClientFor, openDelivery } from './api/delivery-session.ts';
export { createHttpCrmClient } from './crm/http-crm-client.ts';
export { classifyOutcome } from './crm/classify-outcome.ts';
export type { CrmClient, CrmResult } from './crm/crm-client.ts';
export { startLocalCrm } from './local-crm/server.ts';
export { loadConfig } from './config/config.ts';
export type { Config } from './config/config.ts';
export { buildPayload } from './payload/build-payload.ts';
export { assertValidPayload, payloadProblems } from './payload/validate-payload.ts';
export type { CallPayload, CallDetails, Transcription } from './payload/call-payload.ts';
export { readInputFile } from './ingest/read-file.ts';
export type { CallRecord, LeadRecord, RecordingFacts, ManifestRecord, CallBundle, LeadFields } from './ingest/call-record.ts';
export { CrmUploadError, ConfigError, InputError, PayloadValidationError, CrmHttpError } from './errors.ts';
export { startIngestServer, type IngestServer, type IngestServerOptions } from './serve/server.ts';
export { startDashboard, type DashboardServer, type DashboardOptions } from './dashboard/server.ts';
export { reconcile, reconciled, type ReconcileReport, type ReconcileOptions } from './reconcile/reconcile.ts';
