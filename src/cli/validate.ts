/**
 * `crm-upload validate <path…> [--json]`: detect each file's format and report every problem (file and
 * field); sends nothing. Directories are walked recursively. Exit 1 when any file is invalid; skipped
 * files (the event log, `.partial` files, documents met while walking) are not invalid.
 */
import { realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { isInputCandidate } from '../ingest/detect-format.ts';
import { inspectInputFile, type FileReport } from '../ingest/inspect-file.ts';
import type { IngestContext } from '../ingest/read-file.ts';
import { E_INPUT_OUTSIDE, FolderResolver, isInsideFolders } from '../ingest/resolve-path.ts';
import { walkFiles } from '../ingest/walk.ts';
import { configFrom, EXIT, out, runAction, say, type GlobalOptions } from './context.ts';

/** Options of `validate`. */
export interface ValidateOptions {
  json?: boolean;
}

/** One line of `--json` output. */
export interface ValidateLine {
  file: string;
  format: string | null;
  ok: boolean;
  problems: { field: string; message: string; code: string }[];
  skipped?: string;
}

/** The JSON line of a report (without the parsed records, which can be large). */
export function reportLine(report: FileReport): ValidateLine {
  const line: ValidateLine = { file: report.file, format: report.format, ok: report.ok, problems: report.problems };
  if (report.skipped !== undefined) line.skipped = report.skipped;
  return line;
}

/** Lines for people about one report. */
export function humanLines(report: FileReport): string[] {
  const format = report.format ?? 'unknown format';
  if (report.skipped !== undefined) return [`skipped  ${report.file} (${format}): ${report.skipped}`];
  if (report.ok) return [`ok       ${report.file} (${format})`, ...(report.notes ?? []).map((n) => `           note: ${n}`)];
  return [
    `INVALID  ${report.file} (${format})`,
    // Messages name their field already; the prefix is only for messages that do not.
    ...report.problems.map((p) => `           ${p.field && !p.message.includes(p.field) ? `${p.field}: ` : ''}${p.message} [${p.code}]`),
  ];
}

/**
 * Every report for the given paths, in order: a file is inspected; a directory is walked recursively
 * (only possible inputs, see `isInputCandidate`), and a symbolic link in it whose target lies outside
 * that directory is refused unread.
 */
export async function* validatePaths(paths: readonly string[], ctx: IngestContext, resolver: FolderResolver): AsyncGenerator<FileReport> {
  for (const path of paths) {
    let isDir = false;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch {
      // A missing path is reported by inspectInputFile, naming it.
    }
    if (!isDir) {
      yield await inspectInputFile(path, ctx, resolver);
      continue;
    }
    const root = await realpath(path);
    for await (const entry of walkFiles(path)) {
      if (!isInputCandidate(entry.name)) {
        yield { file: entry.path, format: null, ok: true, problems: [], skipped: 'not an input file (by its name)' };
        continue;
      }
      if (entry.symlink) {
        let target: string | null = null;
        try {
          target = await realpath(entry.path);
        } catch {
          // A dangling link: inspectInputFile reports the missing file.
        }
        if (target !== null && !isInsideFolders(target, [root])) {
          yield {
            file: entry.path,
            format: null,
            ok: false,
            problems: [{ field: '', code: E_INPUT_OUTSIDE, message: `symbolic link to ${target}, outside ${root}; refused, not read` }],
          };
          continue;
        }
      }
      yield await inspectInputFile(entry.path, ctx, resolver);
    }
  }
}

/** Add `validate` to the program. */
export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('detect each file\'s format and report every problem (file and field); sends nothing')
    .argument('<path...>', 'files or directories (walked recursively)')
    .option('--json', 'one JSON object per file on stdout: {file, format, ok, problems, skipped?}')
    .action(async (paths: string[], options: ValidateOptions) => {
      const globals = program.opts<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const config = configFrom();
        const absolute = paths.map((p) => resolve(config.cwd, p));
        const dirs: string[] = [];
        for (const p of absolute) {
          try {
            dirs.push((await stat(p)).isDirectory() ? p : dirname(p));
          } catch {
            // Missing paths are reported per file.
          }
        }
        const configured = [config.conversationsDir, config.leadsDir, config.recordingsDir, config.manifestsDir].filter(
          (d): d is string => d !== null,
        );
        // Manifests resolve inside the configured folders and the folders being validated.
        const resolver = new FolderResolver([...new Set([...configured, ...dirs])]);
        const ctx: IngestContext = { sourceTimezone: config.sourceTimezone, defaultRegion: config.defaultRegion };
        let valid = 0;
        let invalid = 0;
        let skipped = 0;
        for await (const report of validatePaths(absolute, ctx, resolver)) {
          if (report.skipped !== undefined) skipped++;
          else if (report.ok) valid++;
          else invalid++;
          if (options.json) out(JSON.stringify(reportLine(report)));
          else for (const line of humanLines(report)) say(line);
        }
        say(`validated ${valid + invalid + skipped} file(s): ${valid} valid, ${invalid} invalid, ${skipped} skipped`);
        return invalid > 0 ? EXIT.FAILED : EXIT.OK;
      });
    });
}
