/**
 * What a reader needs besides the file's content. Readers are pure: anything that comes from the file
 * system (the mtime) is passed in here by the caller that did the I/O.
 */

/** Context of one read. */
export interface ReadContext {
  /** IANA zone of naive local times (`CRM_SOURCE_TIMEZONE`): legacy conversations, lead files and their names. */
  sourceTimezone: string;
  /** `CRM_DEFAULT_REGION`, for callers that normalise numbers while reading; the readers keep numbers as written. */
  defaultRegion?: string;
  /** The file's mtime, the last resort for the time of a call whose file and name carry none. */
  mtimeMs?: number;
}
