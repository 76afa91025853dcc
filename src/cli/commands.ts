/**
 * The registry of commands: each entry adds one command (from its own file) to the program.
 */
import type { Command } from 'commander';
import { registerLocalCrm } from './local-crm.ts';
import { registerSend } from './send.ts';
import { registerBulk } from './bulk.ts';
import { registerWatch } from './watch.ts';
import { registerDemo } from './demo.ts';
import { registerValidate } from './validate.ts';
import { registerWorker } from './worker.ts';
import { registerStatus } from './status.ts';
import { registerDeadLetter } from './dead-letter.ts';
import { registerRecover } from './recover.ts';
import { registerServe } from './serve.ts';
import { registerDashboard } from './dashboard.ts';
import { registerReconcile } from './reconcile.ts';
import { registerDoctor } from './doctor.ts';
import { registerBackup } from './backup.ts';
import { registerRekey } from './rekey.ts';
import { registerPurge } from './purge.ts';

/** Adds one command to the program. */
export type RegisterCommand = (program: Command) => void;

/** Every command of the CLI, in help order. */
export const commands: RegisterCommand[] = [registerSend, registerBulk, registerWatch, registerLocalCrm, registerValidate, registerWorker, registerStatus, registerDeadLetter, registerServe, registerDashboard, registerReconcile, registerBackup, registerRekey, registerPurge, registerRecover, registerDoctor, registerDemo];
