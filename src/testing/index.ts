/**
 * `crm-upload/testing`: what a test of an application built on crm-upload needs, kept out of the
 * package root (docs/architecture.md, "Public API"). A local CRM that speaks the real CRM's contract
 * (call-data POST, recording upload, Retry-After, injectable faults) and a typed client of its admin
 * routes, so that tests deliver to a real server rather than a mock of the client.
 */
import { startLocalCrm, type LocalCrm, type LocalCrmOptions } from '../local-crm/server.ts';

export { startLocalCrm, type LocalCrm, type LocalCrmOptions } from '../local-crm/server.ts';
export { crmAdmin, type CrmAdmin } from './crm-admin.ts';
export type { LocalCrmStats, RequestRecord } from '../local-crm/request-log.ts';
export type { FaultState } from '../local-crm/faults.ts';
export type { FaultsUpdate } from '../local-crm/options.ts';

/** Run `fn` with a local CRM on a free port, closed afterwards whatever happens. */
export async function withLocalCrm<T>(options: LocalCrmOptions, fn: (crm: LocalCrm) => Promise<T>): Promise<T> {
  const crm = await startLocalCrm({ ...options, port: 0 });
  try {
    return await fn(crm);
  } finally {
    await crm.close();
  }
}
