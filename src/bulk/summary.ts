/**
 * The summary of a bulk run, identical for `bulk --json` (its last stdout line) and
 * `bulkUploadFromDirectory()` (docs/architecture.md, CLI table).
 */

/** One input that could not become a call, and why. */
export interface BulkError {
  file: string;
  reason: string;
}

/** What a bulk run did. `total` = success + failed + skipped + pending + dead. */
export interface BulkSummary {
  /** Delivered during this run. */
  success: number;
  /** Input files that could not be read, matched or mapped (listed in `errors`). */
  failed: number;
  /** Calls already delivered before this run. */
  skipped: number;
  /** Calls still queued when the run stopped waiting (`--max-wait`); the worker delivers them later. */
  pending: number;
  /** Calls the CRM refused for good (see `dead-letter list`). */
  dead: number;
  total: number;
  durationMs: number;
  errors: BulkError[];
  /** Lead files that went to no call. */
  unmatchedLeads: string[];
  /**
   * Files that are not calls and were passed over, with why (the event log, `.partial` files still
   * being written). Not counted in `total`: they are not calls.
   */
  skippedFiles: BulkError[];
  /** The run was interrupted (Ctrl-C, SIGTERM, an aborted `signal`): running it again resumes. */
  interrupted: boolean;
}

/** An empty summary. */
export function emptySummary(): BulkSummary {
  return { success: 0, failed: 0, skipped: 0, pending: 0, dead: 0, total: 0, durationMs: 0, errors: [], unmatchedLeads: [], skippedFiles: [], interrupted: false };
}
