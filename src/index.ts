/**
 * crm-upload: deliver every voice-agent call to the CRM exactly once, through a durable outbox.
 * What users need (docs/architecture.md, "Public API"): the seed module's functions in camelCase, bulk
 * and watch, the TranscriptLogger, the outbox and the worker, the servers, errors and types. The local
 * CRM and test helpers are in `crm-upload/testing`, the LiveKit integration in `crm-upload/livekit`.
 * `api/crm-upload.api.d.ts` records this surface; a test fails when it changes without an update.
 */
// The seed's functions and one call now.
export { uploadCallDataFromSession, convertTranscriptToApiFormat, convertLeadToApiFormat, createCallDetails, sessionToPayload } from './api/session-api.ts';
export type { SessionObject, SessionOptions } from './api/session-api.ts';
export { uploadFromTranscriptFile, enqueueAndDeliver, DEFAULT_MAX_WAIT_MS } from './api/upload-call.ts';
export type { UploadCallOptions, UploadCallResult } from './api/upload-call.ts';
export { prepareCall } from './api/prepare-call.ts';
export type { CallFiles, PreparedCall } from './api/prepare-call.ts';
// Folders.
export { bulkUploadFromDirectory } from './api/bulk-upload.ts';
export type { BulkOptions, BulkProgress } from './api/bulk-upload.ts';
export type { BulkSummary, BulkError } from './bulk/summary.ts';
export { watchFolders } from './api/watch-folders.ts';
export type { WatchOptions, WatchHandle } from './api/watch-folders.ts';
// In the agent.
export { TranscriptLogger } from './logger/transcript-logger.ts';
export type { TranscriptSession, TranscriptItem, TranscriptEvent, ChatMessageItem, FunctionCallItem, SaveResult, TranscriptLoggerOptions, ToolCallOptions, SessionTime } from './logger/transcript-logger.ts';
// Configuration and delivery, built in one place.
export { loadConfig } from './config/config.ts';
export type { Config, LoadConfigOptions } from './config/config.ts';
export { openDelivery, openOutbox, crmClientFor } from './delivery/open-delivery.ts';
export type { Delivery, OpenDeliveryOptions, OpenedOutbox, OutboxOption } from './delivery/open-delivery.ts';
export { retryPolicy, DEFAULT_RETRY_POLICY } from './policy/retry-policy.ts';
export type { RetryPolicy } from './policy/retry-policy.ts';
// The outbox and the worker.
export { createOutbox } from './outbox/create-outbox.ts';
export type { OutboxStore, OutboxItem, OutboxState, OutboxCounts, NewOutboxItem, Settlement, StoreCapabilities, EnqueueResult, AttemptLogEntry } from './outbox/outbox-store.ts';
export { startWorker, deliverCalls, DeliveryWorker } from './worker/worker.ts';
export type { WorkerOptions, WorkerConfig, WorkerHandle, WorkerSummary, DeliverySummary } from './worker/worker.ts';
export type { CrmClient, CrmResult } from './crm/crm-client.ts';
// Payloads.
export { buildPayload } from './payload/build-payload.ts';
export { assertValidPayload, payloadProblems } from './payload/validate-payload.ts';
export type { CallPayload, CallDetails, Transcription } from './payload/call-payload.ts';
export { readInputFile } from './ingest/read-file.ts';
export type { CallRecord, LeadRecord, RecordingFacts, ManifestRecord, CallBundle, LeadFields } from './ingest/call-record.ts';
// The servers and reconcile.
export { startIngestServer, type IngestServer, type IngestServerOptions } from './serve/server.ts';
export { startDashboard, type DashboardServer, type DashboardOptions } from './dashboard/server.ts';
export { reconcile, reconciled, type ReconcileReport, type ReconcileOptions } from './reconcile/reconcile.ts';
// Errors: every class a caller can catch, and the codes as a union.
export { CrmUploadError, ConfigError, InputError, PayloadValidationError, CrmHttpError, describeError, isCrmUploadError, isErrorCode, ERROR_CODES } from './errors.ts';
export type { ErrorCode, ErrorContext, ErrorOptions, PayloadProblem } from './errors.ts';
export { InputProblemsError, type InputProblem } from './ingest/problems.ts';
export { OutboxVersionError } from './outbox/outbox-version-error.ts';
export { OutboxKeyError, E_OUTBOX_KEY } from './outbox/payload-cipher.ts';
export { ReconcileError } from './reconcile/reconcile.ts';
