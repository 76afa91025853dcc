/**
 * The check of `crm-upload doctor` on each configured input folder (CRM_CONVERSATIONS_DIR, …): it
 * exists, is a folder, and this user can list and read it. Pure: it reads the probe's facts.
 */
import type { CheckResult } from './check.ts';

/** The folder variables of the configuration. */
export const FOLDER_VARIABLES = ['CRM_CONVERSATIONS_DIR', 'CRM_LEADS_DIR', 'CRM_RECORDINGS_DIR', 'CRM_MANIFESTS_DIR'] as const;

/** What the probe found about one folder. */
export interface FolderFacts {
  variable: string;
  path: string;
  exists: boolean;
  isDirectory: boolean;
  /** Can be listed and read. */
  readable: boolean;
}

/** The folder exists and can be read. */
export function checkFolder(f: FolderFacts): CheckResult {
  const id = `folder.${f.variable}`;
  if (!f.exists) return { id, title: f.variable, status: 'fail', detail: `${f.path} does not exist`, fix: `create it (mkdir -p ${f.path}) or correct ${f.variable}` };
  if (!f.isDirectory) return { id, title: f.variable, status: 'fail', detail: `${f.path} is not a folder`, fix: `point ${f.variable} at the folder holding the files` };
  if (!f.readable) return { id, title: f.variable, status: 'fail', detail: `${f.path} cannot be read by this user`, fix: `chmod u+rx ${f.path}, or run crm-upload as a user who can read it` };
  return { id, title: f.variable, status: 'ok', detail: `${f.path} readable` };
}
