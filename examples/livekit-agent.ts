/**
 * A LiveKit voice agent (LiveKit Agents for Node.js 1.x) whose calls reach the CRM exactly once: one
 * `attachCrmUpload` line in the entry function. The conversation is journaled as it happens; at
 * shutdown the call (transcript, `create_lead` arguments, caller number, campaign ids, recording) is
 * enqueued in the outbox in milliseconds, and `crm-upload worker` delivers it.
 *
 * Run it (with LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, the model keys, and the CRM_* settings):
 *   node examples/livekit-agent.ts dev          # the agent
 *   npm run -s crm-upload -- worker             # the delivery, in another terminal or service
 *
 * In an application, import from the package: `import { attachCrmUpload } from 'crm-upload/livekit'`.
 */
import { fileURLToPath } from 'node:url';
import { cli, defineAgent, llm, ServerOptions, voice, type JobContext } from '@livekit/agents';
import { z } from 'zod';
import { attachCrmUpload } from '../src/integrations/livekit/index.ts';

const INSTRUCTIONS = `You are Friday, a friendly sales assistant on a phone call.
Find out the caller's name, company, email and what they are interested in.
When you have them, call create_lead with what you learnt, then thank the caller.`;

/** The tool whose arguments become the call's lead in the CRM (docs/architecture.md: "a lead built from create_lead"). */
const createLead = llm.tool({
  description: 'Save the caller as a sales lead once you know their name and a way to reach them.',
  parameters: z.object({
    name: z.string().describe("the caller's full name"),
    email: z.string().describe("the caller's email, or an empty string"),
    phone: z.string().describe("the caller's phone number, or an empty string"),
    company: z.string().describe("the caller's company, or an empty string"),
    interest: z.string().describe('what the caller wants'),
  }),
  execute: async () => 'The lead is saved. Thank the caller and say goodbye.',
});

export default defineAgent({
  entry: async (ctx: JobContext) => {
    const session = new voice.AgentSession({
      stt: 'deepgram/nova-3',
      llm: 'openai/gpt-4.1-mini',
      tts: 'cartesia/sonic-2',
    });

    // The one line. Campaign ids come from the dispatch's metadata when it has them
    // (`{"campaignId": …, "voiceAgentId": …, "clientId": …}`), else from these options or CRM_*.
    attachCrmUpload(ctx, session, { campaignId: process.env.CRM_CAMPAIGN_ID });

    const agent = new voice.Agent({ instructions: INSTRUCTIONS, tools: { create_lead: createLead } });
    // `record: true` makes the session record the call itself (`<ctx.sessionDirectory>/audio.ogg`),
    // which is uploaded with it.
    await session.start({ agent, room: ctx.room, record: true });
    await ctx.connect();
    session.generateReply({ instructions: 'Greet the caller and ask how you can help.' });
  },
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  cli.runApp(new ServerOptions({ agent: fileURLToPath(import.meta.url) }));
}
