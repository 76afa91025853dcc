/**
 * The defaults of `crm-upload serve`, apart from the server so that the CLI can show them in its help
 * without loading the HTTP stack (hono, the outbox, the worker) for every other command.
 */

/** Default address: this machine only. */
export const DEFAULT_HOST = '127.0.0.1';
/** Default port of `crm-upload serve`. */
export const DEFAULT_PORT = 8787;
/** Default limit of a JSON body (and of the `call` field of a multipart body). */
export const DEFAULT_MAX_JSON_BYTES = 10 * 1024 * 1024;
/** Default limit of a multipart body (the recording is streamed to disk, never held in memory). */
export const DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024;
