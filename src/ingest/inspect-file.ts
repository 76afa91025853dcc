/**
 * One file's verdict for `validate`: the detected format and every problem, never an exception for
 * bad input. A manifest is also resolved inside the folders, since a manifest whose conversation
 * cannot be found there (or that points outside them) is not usable either.
 */
import type { FormatName } from './call-record.ts';
import { CrmUploadError, InputError } from '../errors.ts';
import { InputProblemsError, type InputProblem } from './problems.ts';
import { readInputFile, type IngestContext, type IngestResult } from './read-file.ts';
import { resolveManifestFiles, type FolderResolver } from './resolve-path.ts';

/** What `validate` says about one file. */
export interface FileReport {
  file: string;
  format: FormatName | null;
  /** False when the file has problems; a skipped file is ok. */
  ok: boolean;
  problems: InputProblem[];
  /** Why the file was passed over (the event log, a `.partial` file). */
  skipped?: string;
  /** Facts that do not invalidate the file (e.g. a manifest's recording not found yet). */
  notes?: string[];
  /** The result when the file was read. */
  result?: IngestResult;
}

/** The problems an error stands for: all of them for an InputProblemsError, else one. */
export function problemsOf(err: unknown): InputProblem[] {
  if (err instanceof InputProblemsError) return err.problems;
  if (err instanceof CrmUploadError) {
    const field = typeof err.context.field === 'string' ? err.context.field : '';
    return [{ field, message: err.message, code: err.code }];
  }
  return [{ field: '', message: err instanceof Error ? err.message : String(err), code: 'E_INPUT_READ' }];
}

/**
 * Read a file and report on it. `resolver` (the configured folders) is used for manifests; without
 * one, a manifest's files are not checked. Errors other than bad input (a ConfigError for an invalid
 * time zone) still propagate: they are not about this file.
 */
export async function inspectInputFile(path: string, ctx: IngestContext, resolver?: FolderResolver): Promise<FileReport> {
  let result: IngestResult;
  try {
    result = await readInputFile(path, ctx);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const file = typeof err.context.file === 'string' ? err.context.file : path;
    const format = err instanceof InputProblemsError ? err.format : null;
    return { file, format, ok: false, problems: problemsOf(err) };
  }
  switch (result.kind) {
    case 'skipped':
      return { file: result.file, format: result.format, ok: true, problems: [], skipped: result.reason, result };
    case 'call':
      return { file: result.call.file, format: result.format, ok: true, problems: [], result };
    case 'lead':
      return { file: result.lead.file ?? path, format: 'lead', ok: true, problems: [], result };
    case 'recording':
      return { file: result.recording.file, format: 'recording', ok: true, problems: [], result };
    case 'manifest': {
      if (!resolver) return { file: result.manifest.file, format: 'manifest', ok: true, problems: [], result };
      const resolved = await resolveManifestFiles(result.manifest, resolver);
      const report: FileReport = {
        file: result.manifest.file,
        format: 'manifest',
        ok: resolved.problems.length === 0,
        problems: resolved.problems,
        result: { ...result, manifest: resolved.manifest },
      };
      if (resolved.notes.length > 0) report.notes = resolved.notes;
      return report;
    }
  }
}
