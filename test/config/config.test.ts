import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, redactConfig, DEFAULT_RETRY_SCHEDULE_MS } from '../../src/config/config.ts';
import { parseDuration, parseDurationList } from '../../src/config/duration.ts';
import { ConfigError } from '../../src/errors.ts';

const cwd = mkdtempSync(join(tmpdir(), 'crm-config-'));
const load = (env: Record<string, string>) => loadConfig({ env, cwd, envFile: null });

describe('parseDuration', () => {
  const rows: [string, number | null][] = [
    ['250ms', 250], ['5s', 5000], ['2m', 120000], ['1h', 3600000], ['1.5s', 1500], ['300', 300], [' 10s ', 10000], ['1d', 86400000],
    ['', null], ['5 minutes', null], ['-1s', null], ['s', null],
  ];
  for (const [text, ms] of rows) test(`${JSON.stringify(text)} → ${ms}`, () => assert.equal(parseDuration(text), ms));
  test('lists', () => {
    assert.deepEqual(parseDurationList('50ms,200ms,1s'), [50, 200, 1000]);
    assert.equal(parseDurationList('50ms,bad'), null);
  });
});

describe('loadConfig', () => {
  test('defaults', () => {
    const c = load({});
    assert.equal(c.apiUrl, 'https://devcrm.xeny.ai/apis/api/public/call-data');
    assert.equal(c.uploadUrl, 'https://devcrm.xeny.ai/apis/api/public/upload');
    assert.equal(c.timeoutMs, 30000);
    assert.equal(c.rateLimit, 100);
    assert.equal(c.concurrency, 16);
    assert.equal(c.maxConcurrency, 0, 'CRM_MAX_CONCURRENCY unset: no more than CRM_CONCURRENCY');
    assert.deepEqual(c.retryScheduleMs, DEFAULT_RETRY_SCHEDULE_MS);
    assert.equal(c.maxAttempts, 10);
    assert.equal(c.recordingWaitMs, 120000);
    assert.equal(c.outbox, join(cwd, '.crm-upload/outbox.db'));
    assert.equal(c.sourceTimezone, 'UTC');
    assert.equal(c.defaultRegion, 'IN');
    assert.equal(c.campaignId, null);
    assert.equal(c.autoUpload, false);
  });

  test('values from the environment', () => {
    const c = load({
      CRM_API_URL: 'http://127.0.0.1:9999/apis/api/public/call-data',
      CRM_RETRY_SCHEDULE: '50ms,200ms,1s',
      CRM_TIMEOUT_MS: '1500',
      CRM_RATE_LIMIT: '0',
      CRM_SOURCE_TIMEZONE: 'Asia/Kolkata',
      CRM_OUTBOX: 'redis://127.0.0.1:6379',
      CRM_CONVERSATIONS_DIR: 'convs',
      CRM_AUTO_UPLOAD: 'true',
    });
    assert.equal(c.uploadUrl, 'http://127.0.0.1:9999/apis/api/public/upload');
    assert.deepEqual(c.retryScheduleMs, [50, 200, 1000]);
    assert.equal(c.maxAttempts, 4, 'one attempt more than the schedule has delays');
    assert.equal(c.timeoutMs, 1500);
    assert.equal(c.rateLimit, 0);
    assert.equal(c.sourceTimezone, 'Asia/Kolkata');
    assert.equal(c.outbox, 'redis://127.0.0.1:6379');
    assert.equal(c.conversationsDir, join(cwd, 'convs'));
    assert.equal(c.autoUpload, true);
  });

  const bad: [string, Record<string, string>][] = [
    ['CRM_TIMEOUT_MS', { CRM_TIMEOUT_MS: 'soon' }],
    ['CRM_RATE_LIMIT', { CRM_RATE_LIMIT: '-5' }],
    ['CRM_CONCURRENCY', { CRM_CONCURRENCY: '0' }],
    ['CRM_MAX_CONCURRENCY', { CRM_MAX_CONCURRENCY: 'many' }],
    ['CRM_RETRY_SCHEDULE', { CRM_RETRY_SCHEDULE: '1s,later' }],
    ['CRM_SOURCE_TIMEZONE', { CRM_SOURCE_TIMEZONE: 'Mars/Olympus' }],
    ['CRM_API_URL', { CRM_API_URL: 'ftp://x' }],
    ['CRM_AUTO_UPLOAD', { CRM_AUTO_UPLOAD: 'maybe' }],
    ['CRM_DEFAULT_REGION', { CRM_DEFAULT_REGION: 'India' }],
  ];
  for (const [variable, env] of bad) {
    test(`a malformed ${variable} is an error naming it`, () => {
      assert.throws(() => load(env), (err: unknown) => err instanceof ConfigError && err.context.variable === variable && err.message.includes(variable));
    });
  }

  test('.env is read, and the environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'crm-dotenv-'));
    writeFileSync(join(dir, '.env'), 'CRM_CAMPAIGN_ID=from-file\nCRM_CLIENT_ID=client-file\nCRM_API_KEY=secret-key-123\n');
    const c = loadConfig({ env: { CRM_CLIENT_ID: 'client-env' }, cwd: dir });
    assert.equal(c.campaignId, 'from-file');
    assert.equal(c.clientId, 'client-env');
    assert.equal(c.apiKey, 'secret-key-123');
    assert.ok(!JSON.stringify(redactConfig(c)).includes('secret-key-123'), 'redacted config never shows the key');
  });
});
