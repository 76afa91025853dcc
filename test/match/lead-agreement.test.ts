import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { keysAgree, keysOfArguments, keysOfLead } from '../../src/match/lead-agreement.ts';
import { lead } from './factories.ts';

describe('keysAgree: create_lead arguments against a lead file', () => {
  const rows: { name: string; args: Record<string, unknown>; file: { name?: string; email?: string; phone?: string }; agree: boolean }[] = [
    { name: 'all three equal', args: { name: 'Asha Rao', email: 'asha@example.com', phone: '9999900003' }, file: { name: 'Asha Rao', email: 'asha@example.com', phone: '9999900003' }, agree: true },
    { name: 'case and spaces ignored', args: { name: ' asha  RAO ', email: 'Asha@Example.com' }, file: { name: 'Asha Rao', email: 'asha@example.com' }, agree: true },
    { name: 'phones by their last 10 digits', args: { phone: '+91 99999-00003' }, file: { phone: '09999900003' }, agree: true },
    { name: 'a phone given as a number', args: { phone: 919999900003 }, file: { phone: '9999900003' }, agree: true },
    { name: 'only one side has the email: the name decides', args: { name: 'Asha Rao', email: 'asha@example.com' }, file: { name: 'asha rao' }, agree: true },
    { name: 'a present field differs', args: { name: 'Asha Rao', email: 'other@example.com' }, file: { name: 'Asha Rao', email: 'asha@example.com' }, agree: false },
    { name: 'phones differ', args: { name: 'Asha Rao', phone: '9999900004' }, file: { name: 'Asha Rao', phone: '9999900003' }, agree: false },
    { name: 'nothing present on both sides', args: { email: 'asha@example.com' }, file: { name: 'Asha Rao' }, agree: false },
    { name: 'empty arguments', args: {}, file: { name: 'Asha Rao' }, agree: false },
    { name: 'non-text arguments are absent', args: { name: { first: 'Asha' }, phone: true }, file: { name: 'Asha Rao', phone: '1' }, agree: false },
    { name: 'company is not compared', args: { name: 'Asha Rao', company: 'X' }, file: { name: 'Asha Rao' }, agree: true },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const fields = lead({ fields: row.file }).fields;
      assert.equal(keysAgree(keysOfArguments(row.args), keysOfLead(fields)), row.agree);
      assert.equal(keysAgree(keysOfLead(fields), keysOfArguments(row.args)), row.agree, 'symmetric');
    });
  }
});
