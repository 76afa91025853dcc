/**
 * The registry of commands: each entry adds one command (from its own file) to the program.
 */
import type { Command } from 'commander';

/** Adds one command to the program. */
export type RegisterCommand = (program: Command) => void;

/** Every command of the CLI, in help order. */
export const commands: RegisterCommand[] = [];
