/**
 * An outbox file written by a newer crm-upload than this one (docs/architecture.md, "Outbox"): its
 * schema may hold columns or states this code would misread, so it is refused before any statement
 * touches it. A configuration problem (exit 2): install the newer version again, or restore the backup
 * taken before the upgrade (README, "Upgrade and roll back").
 */
import { ConfigError } from '../errors.ts';

/** The code of `OutboxVersionError`. */
export const E_OUTBOX_TOO_NEW = 'E_OUTBOX_TOO_NEW';

/** The outbox's schema version is newer than the one this code knows. */
export class OutboxVersionError extends ConfigError {
  /** The file's `PRAGMA user_version`. */
  readonly fileVersion: number;
  /** The newest schema version this code understands. */
  readonly knownVersion: number;

  constructor(file: string, fileVersion: number, knownVersion: number) {
    super(
      `outbox ${file} has schema version ${fileVersion}, newer than this crm-upload understands (${knownVersion}); ` +
        'install the crm-upload that wrote it, or restore the backup taken before the upgrade',
      { code: E_OUTBOX_TOO_NEW, file, variable: 'CRM_OUTBOX', fileVersion, knownVersion },
    );
    this.fileVersion = fileVersion;
    this.knownVersion = knownVersion;
  }
}
