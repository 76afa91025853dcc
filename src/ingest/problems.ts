/**
 * Problems found in one input file. Readers collect every problem of a file instead of stopping at the
 * first, so that `validate` can report them all at once; the file is then refused as a whole with one
 * InputProblemsError carrying the list.
 */
import { InputError, type ErrorCode } from '../errors.ts';
import type { FormatName } from './call-record.ts';

/**
 * One problem of an input file: the field (a path such as `items[3].content`, `""` for the whole file)
 * and a message that reads on its own (it names the field itself).
 */
export interface InputProblem {
  field: string;
  message: string;
  code: ErrorCode;
}

/**
 * An input file that cannot be used. `problems` lists every problem found (at least one); the error's
 * own code, message and `context.field` are those of the first, so a caller that only prints one line
 * still names the file and the field.
 */
export class InputProblemsError extends InputError {
  /** Every problem found, in the order met. */
  readonly problems: InputProblem[];
  /** The detected format, when detection got that far. */
  readonly format: FormatName | null;

  constructor(file: string, format: FormatName | null, problems: InputProblem[]) {
    const first = problems[0] ?? { field: '', message: 'invalid input', code: 'E_INPUT' };
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    super(`${first.message}${more}`, { code: first.code, file, field: first.field, format });
    this.problems = problems;
    this.format = format;
  }
}

/** The problems of one file, collected while a reader runs. */
export class ProblemList {
  readonly file: string;
  readonly format: FormatName | null;
  readonly items: InputProblem[] = [];

  constructor(file: string, format: FormatName | null) {
    this.file = file;
    this.format = format;
  }

  /** Record a problem and carry on reading the rest of the file. */
  add(code: ErrorCode, field: string, message: string): void {
    this.items.push({ code, field, message });
  }

  /** Record a problem that stops the reading and refuse the file with everything recorded so far. */
  fail(code: ErrorCode, field: string, message: string): never {
    this.add(code, field, message);
    throw new InputProblemsError(this.file, this.format, this.items);
  }

  /** Refuse the file when anything was recorded. */
  throwIfAny(): void {
    if (this.items.length > 0) throw new InputProblemsError(this.file, this.format, this.items);
  }
}

/** Refuse a file for one problem. */
export function inputProblem(file: string, format: FormatName | null, code: ErrorCode, field: string, message: string): InputProblemsError {
  return new InputProblemsError(file, format, [{ code, field, message }]);
}
