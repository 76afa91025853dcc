/**
 * The address defaults of `crm-upload dashboard`, apart from the server so that the CLI can show them
 * in its help without loading the HTTP stack for every other command.
 */

/** Default address: this machine only. */
export const DEFAULT_DASHBOARD_HOST = '127.0.0.1';
/** Default port of `crm-upload dashboard`. */
export const DEFAULT_DASHBOARD_PORT = 8788;
