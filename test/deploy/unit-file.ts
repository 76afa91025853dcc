/**
 * Just enough of systemd's unit syntax to run a unit's command by hand in a test: the `[Service]`
 * settings, `Environment=`/`EnvironmentFile=` merged as systemd merges them, and `ExecStart=` split
 * and expanded as systemd.service(5) "Command lines" describes (`${VAR}` one word, `$VAR` split at
 * whitespace into zero or more words). Not a general parser: no quoting beyond what the units use.
 */
import { readFileSync } from 'node:fs';

/** The settings of one section, each key with every value it was given, in order. */
export type Section = Map<string, string[]>;

/** Parse a unit file into its sections. Comments and blank lines are skipped. */
export function parseUnit(text: string): Map<string, Section> {
  const sections = new Map<string, Section>();
  let current: Section | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || current === undefined) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    current.set(key, [...(current.get(key) ?? []), value]);
  }
  return sections;
}

/** The `[Service]` section of a unit file (throws when there is none). */
export function serviceSection(path: string): Section {
  const service = parseUnit(readFileSync(path, 'utf8')).get('Service');
  if (service === undefined) throw new Error(`${path} has no [Service] section`);
  return service;
}

/** The last value of a setting (systemd's rule for single-valued settings), or undefined. */
export function setting(section: Section, key: string): string | undefined {
  return section.get(key)?.at(-1);
}

/** `VAR=value` lines of an environment file (`#` comments, blank lines skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`not an environment line: ${line}`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return env;
}

/**
 * The environment systemd gives the service: every `Environment=` assignment, then the env file over
 * them ("settings from these files override settings made with Environment=", systemd.exec(5)).
 */
export function serviceEnv(section: Section, envFile: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of section.get('Environment') ?? []) {
    for (const pair of line.split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return { ...env, ...envFile };
}

/** `ExecStart=` as argv, its variables expanded from `env`. */
export function execStart(section: Section, env: Record<string, string>): string[] {
  const line = setting(section, 'ExecStart');
  if (line === undefined) throw new Error('no ExecStart=');
  const argv: string[] = [];
  for (const word of line.split(/\s+/)) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole) {
      // "$FOO" alone: split at whitespace into zero or more words.
      argv.push(...(env[whole[1] as string] ?? '').split(/\s+/).filter((w) => w !== ''));
      continue;
    }
    argv.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => env[name] ?? ''));
  }
  return argv;
}

/** A systemd time span such as `30s`, `2min`, `1min 30s` or a bare number of seconds, in ms. */
export function timeSpanMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1_000, sec: 1_000, m: 60_000, min: 60_000, h: 3_600_000 };
  let total = 0;
  for (const part of text.trim().split(/\s+/)) {
    const m = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(part);
    const unit = units[m?.[2] || 's'];
    if (!m || unit === undefined) throw new Error(`not a time span: ${text}`);
    total += Number(m[1]) * unit;
  }
  return total;
}
