// The OpenAI API with the official openai npm client, only the base URL
// and key changed: completions (greedy text equals run.c's), chat
// completions with streaming and usage in the final chunk, logprobs, stop,
// models, and errors (bad key, unknown model, malformed JSON, bad values).
// Usage: STRATA_ENDPOINT=... node openai_flow.mjs <apiKey> <model> <expectedContinuationFile>
import { readFileSync } from "node:fs";
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError } from "openai";

const [apiKey, model, refFile] = process.argv.slice(2);
const reference = readFileSync(refFile, "utf8");
const baseURL = process.env.STRATA_ENDPOINT + "/v1";
const client = new OpenAI({ apiKey, baseURL, maxRetries: 0 });
function check(cond, msg) {
  if (!cond) {
    console.error("FAIL: " + msg);
    process.exit(1);
  }
}
async function expectError(cls, status, code, fn, what) {
  try {
    await fn();
  } catch (e) {
    check(e instanceof cls, `${what}: got ${e.constructor.name} ${e.message}`);
    check(e.status === status, `${what}: status ${e.status}`);
    if (code !== undefined) check(e.code === code, `${what}: code ${e.code}`);
    check(typeof e.error?.message === "string" && e.error.type, `${what}: error body ${JSON.stringify(e.error)}`);
    return;
  }
  check(false, what + ": no error");
}

// Completions: greedy text is a prefix of run.c's continuation.
const cmpl = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 251, temperature: 0, logprobs: 0 });
const text = cmpl.choices[0].text;
check(reference.startsWith(text) && text.length > 400, "greedy completion: " + text);
check(cmpl.object === "text_completion" && cmpl.usage.prompt_tokens === 5 && cmpl.usage.completion_tokens > 0, "completion " + JSON.stringify(cmpl.usage));
const lp = cmpl.choices[0].logprobs;
check(lp.tokens.length === cmpl.usage.completion_tokens && lp.tokens.join("") === text, "completion logprobs tokens");
check(lp.token_logprobs.every((v) => v <= 0), "completion logprob values");

// Streamed completion: same text, usage after the finish chunk.
const cs = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 251, temperature: 0, stream: true, stream_options: { include_usage: true } });
let streamed = "";
const cchunks = [];
for await (const c of cs) {
  cchunks.push(c);
  for (const ch of c.choices) streamed += ch.text;
}
check(streamed === text, "streamed completion differs:\n" + streamed + "\n" + text);
const clast = cchunks[cchunks.length - 1];
check(clast.choices.length === 0 && clast.usage?.completion_tokens === cmpl.usage.completion_tokens, "completion usage chunk " + JSON.stringify(clast));
check(cchunks[cchunks.length - 2].choices[0].finish_reason, "finish chunk before usage");

// Stop sequences end the text before the match.
const stopped = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 100, temperature: 0, stop: ["."] });
check(stopped.choices[0].text === reference.slice(0, reference.indexOf(".")) && stopped.choices[0].finish_reason === "stop", "stop: " + JSON.stringify(stopped.choices[0]));

// Chat completion.
const messages = [
  { role: "system", content: "You tell short stories." },
  { role: "user", content: [{ type: "text", text: "Tell me a story" }] },
];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 30, temperature: 0, logprobs: true });
const choice = chat.choices[0];
check(chat.object === "chat.completion" && chat.id.startsWith("chatcmpl-"), "chat object " + chat.object);
check(choice.message.role === "assistant" && choice.message.content.length > 0, "chat message " + JSON.stringify(choice.message));
check(["stop", "length"].includes(choice.finish_reason), "finish_reason " + choice.finish_reason);
check(chat.usage.completion_tokens > 0 && chat.usage.total_tokens === chat.usage.prompt_tokens + chat.usage.completion_tokens, "chat usage");
check(choice.logprobs.content.length === chat.usage.completion_tokens, "chat logprobs count");
check(choice.logprobs.content.map((t) => t.token).join("") === choice.message.content, "chat logprob tokens join to the content");

// Streamed chat: role first, the same content, usage in a final chunk with no choices.
const stream = await client.chat.completions.create({ model, messages, max_tokens: 30, temperature: 0, stream: true, stream_options: { include_usage: true } });
let content = "";
const chunks = [];
for await (const c of stream) {
  chunks.push(c);
  for (const ch of c.choices) content += ch.delta.content ?? "";
}
check(chunks[0].choices[0].delta.role === "assistant", "first chunk role");
check(content === choice.message.content, "streamed chat differs");
const last = chunks[chunks.length - 1];
check(last.choices.length === 0 && last.usage?.completion_tokens === chat.usage.completion_tokens, "usage chunk " + JSON.stringify(last));
check(chunks[chunks.length - 2].choices[0].finish_reason === choice.finish_reason, "finish chunk");

// The helper that collects a stream.
const runner = client.chat.completions.stream({ model, messages, max_tokens: 30, temperature: 0 });
const final = await runner.finalChatCompletion();
check(final.choices[0].message.content === choice.message.content, "stream helper");

// Models.
const models = [];
for await (const m of client.models.list()) models.push(m);
check(models.some((m) => m.id === model && m.object === "model" && m.owned_by), "models " + JSON.stringify(models));
const one = await client.models.retrieve(model);
check(one.id === model, "retrieve model");

// Errors, in OpenAI's classes.
const bad = new OpenAI({ apiKey: "sk-strata-aaaaaaaaaaaaaaaa-" + "b".repeat(52), baseURL, maxRetries: 0 });
await expectError(AuthenticationError, 401, "invalid_api_key", () => bad.chat.completions.create({ model, messages }), "bad key");
await expectError(AuthenticationError, 401, "invalid_api_key", () => bad.models.list(), "bad key on models");
await expectError(NotFoundError, 404, "model_not_found", () => client.chat.completions.create({ model: "no-such-model", messages }), "unknown model");
await expectError(NotFoundError, 404, "model_not_found", () => client.models.retrieve("no-such-model"), "unknown model retrieve");
await expectError(BadRequestError, 400, undefined, () => client.chat.completions.create({ model, messages, max_tokens: 100000 }), "max_tokens too large");
await expectError(BadRequestError, 400, undefined, () => client.chat.completions.create({ model, messages, logprobs: true, top_logprobs: 2 }), "top_logprobs");
await expectError(BadRequestError, 400, undefined, () => client.chat.completions.create({ model, messages: [] }), "no messages");
await expectError(BadRequestError, 400, undefined, () => client.post("/chat/completions", { body: "{bad json", headers: { "content-type": "application/json" } }), "malformed JSON");

console.log(JSON.stringify({ ok: true, models: models.length }));
