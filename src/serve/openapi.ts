/**
 * The OpenAPI 3.1 document of the ingest API, written by hand so that it reads as documentation and
 * says what the code does (a test checks that every route of the app is in it, and nothing else).
 */
import { CALL_PART, RECORDING_PART } from './post-call.ts';

const problem = {
  type: 'object',
  required: ['field', 'code', 'message'],
  properties: {
    field: { type: 'string', description: 'Path of the field in the request (`session.items[3].content`, `lead.email`, `recordingPath`); `""` for the body as a whole.' },
    code: { type: 'string', description: 'Stable machine-readable code, e.g. `E_INPUT_FIELD`, `E_INPUT_OUTSIDE`, `E_SERVE_MISSING_ID`.' },
    message: { type: 'string' },
  },
} as const;

const idField = (what: string, variable: string): Record<string, unknown> => ({
  type: 'string',
  description: `The call's ${what}; wins over the session's own \`metadata.campaign_metadata\` and over \`${variable}\`. Required when neither gives one.`,
});

const errorResponse = (description: string): Record<string, unknown> => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** The OpenAPI 3.1 document, as served at `GET /openapi.json`. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'crm-upload ingest API',
    version: '1',
    description:
      'Put voice-agent calls into the durable outbox of crm-upload, from agents in any language. A call is enqueued durably ' +
      '(on disk) before the answer, then delivered to the CRM exactly once by the worker (retries, rate limit, dead-letter queue). ' +
      'Every `/v1` route needs `Authorization: Bearer <CRM_INGEST_TOKEN>` when the server has a token.',
  },
  paths: {
    '/healthz': {
      get: {
        operationId: 'health',
        summary: 'Liveness: the server answers and its outbox is open.',
        security: [],
        responses: {
          '200': { description: 'Up.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } },
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document.',
        security: [],
        responses: { '200': { description: 'The OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
    '/v1/calls': {
      post: {
        operationId: 'postCall',
        summary: 'Enqueue one call (idempotent by callId).',
        description:
          'The session may be in any supported conversation format; it is detected by content. The callId is derived from the call ' +
          '(`CALL-<start, UTC>-<last 8 of the session id>`) unless `callId` is given, so posting the same call again answers the same ' +
          `callId and enqueues nothing. A recording is given either as \`recordingPath\` (inside the server's recordings folder only) or ` +
          `as the \`${RECORDING_PART}\` file of a multipart body whose \`${CALL_PART}\` field holds the same JSON object.`,
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: { $ref: '#/components/schemas/CallRequest' } },
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: [CALL_PART],
                properties: {
                  [CALL_PART]: { type: 'string', description: 'The call as JSON text (a CallRequest without `recordingPath`).' },
                  [RECORDING_PART]: { type: 'string', contentMediaType: 'application/octet-stream', description: 'The recording (Ogg, WAV, MP3, FLAC, MP4 or WebM). Its file name is kept: an egress name `number-_<digits>-<epoch>.ogg` gives the caller number and start.' },
                },
              },
              encoding: { [CALL_PART]: { contentType: 'application/json' } },
            },
          },
        },
        responses: {
          '202': { description: 'Enqueued durably, or already there (then `enqueued` is false and nothing changed).', content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } } },
          '400': errorResponse('Invalid input: `problems` names every field that is wrong.'),
          '401': errorResponse('Missing or wrong Bearer token.'),
          '403': errorResponse('Sent by a browser for another site (`Origin`, `Sec-Fetch-Site`): agents call this API directly.'),
          '409': errorResponse('Another payload is already queued under this callId (the same payload again is a 202).'),
          '413': errorResponse('The body is over the size limit.'),
          '415': errorResponse('Neither JSON nor multipart/form-data.'),
          '421': errorResponse('The `Host` header does not name this server (see `--allow-host`).'),
          '503': errorResponse('Too many uploads at once, or too little free disk for a recording: try again after `Retry-After` seconds.'),
        },
      },
    },
    '/v1/calls/{callId}': {
      get: {
        operationId: 'getCall',
        summary: "A call's delivery state.",
        parameters: [{ name: 'callId', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' } }],
        responses: {
          '200': { description: 'The outbox item.', content: { 'application/json': { schema: { $ref: '#/components/schemas/CallStatus' } } } },
          '400': errorResponse('Not a valid callId (1-128 of A-Z a-z 0-9 . _ -, not all digits).'),
          '401': errorResponse('Missing or wrong Bearer token.'),
          '404': errorResponse('No such call in the outbox.'),
        },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'CRM_INGEST_TOKEN, or the token serve printed at start when none is set; always required.' } },
    schemas: {
      CallRequest: {
        type: 'object',
        required: ['session'],
        additionalProperties: false,
        properties: {
          session: {
            type: 'object',
            description:
              'The conversation: a transcript-logger session, a LiveKit `session.history.to_dict(exclude_timestamp=False)`, a MongoDB export or a legacy `{conversation:[…]}`.',
          },
          lead: {
            type: 'object',
            description: 'A lead (name, email, company, interest, phone, job_title, budget, timeline, timestamp, source, status). Without it, a `create_lead` tool call in the session gives the lead.',
          },
          recordingPath: { type: 'string', description: 'A recording inside the server\'s CRM_RECORDINGS_DIR (absolute, or relative to it). Anything outside it, by `..` or by a symbolic link, is refused unread. A file not there yet is waited for by the worker.' },
          callerNumber: { type: 'string', description: 'The caller\'s number; normalised to E.164 with CRM_DEFAULT_REGION.' },
          callId: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$', description: 'Overrides the derived callId: 1-128 of A-Z a-z 0-9 . _ -, not all digits.' },
          campaignId: idField('campaign id', 'CRM_CAMPAIGN_ID'),
          voiceAgentId: idField('voice agent id', 'CRM_VOICE_AGENT_ID'),
          clientId: idField('client id', 'CRM_CLIENT_ID'),
        },
      },
      Accepted: {
        type: 'object',
        required: ['callId', 'status', 'enqueued', 'warnings'],
        properties: {
          callId: { type: 'string' },
          status: { $ref: '#/components/schemas/State' },
          enqueued: { type: 'boolean', description: 'False when the call was already in the outbox.' },
          warnings: { type: 'array', items: { type: 'string' } },
        },
      },
      State: { type: 'string', enum: ['pending', 'in_flight', 'delivered', 'dead'] },
      CallStatus: {
        type: 'object',
        required: ['callId', 'status', 'attempts', 'lastStatus', 'lastError', 'recording', 'createdAt', 'updatedAt', 'nextAttemptAt', 'deliveredAt'],
        properties: {
          callId: { type: 'string' },
          status: { $ref: '#/components/schemas/State' },
          attempts: { type: 'integer', minimum: 0 },
          lastStatus: { type: ['integer', 'null'], description: "HTTP status of the CRM's last answer." },
          lastError: { type: ['string', 'null'], description: 'Why the last attempt failed; phone numbers and emails masked.' },
          recording: {
            type: 'object',
            required: ['attached', 'uploaded', 'note'],
            properties: {
              attached: { type: 'boolean' },
              uploaded: { type: 'boolean' },
              note: { type: ['string', 'null'], description: 'Why the call went out without its recording, when it did.' },
            },
          },
          createdAt: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
          nextAttemptAt: { type: ['string', 'null'], format: 'date-time' },
          deliveredAt: { type: ['string', 'null'], format: 'date-time' },
        },
      },
      Health: {
        type: 'object',
        required: ['status', 'worker'],
        properties: { status: { const: 'ok' }, worker: { type: 'boolean', description: 'Whether this server delivers calls itself.' } },
      },
      Error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string' },
          message: { type: 'string' },
          problems: { type: 'array', items: problem },
        },
      },
    },
  },
  security: [{ bearer: [] }],
} as const;
