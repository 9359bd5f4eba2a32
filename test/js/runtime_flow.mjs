// The Bedrock runtime with the AWS SDK for JavaScript v3, whose Node client
// speaks HTTP/2 (h2c) to http:// endpoints: InvokeModel, the response
// stream, Converse and ConverseStream against an imported model.
// Usage: STRATA_ENDPOINT=... node runtime_flow.mjs <modelArn> <expectedPrefixFile>
import { readFileSync } from "node:fs";
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ConverseCommand,
  ConverseStreamCommand,
  ResourceNotFoundException,
  ValidationException,
} from "@aws-sdk/client-bedrock-runtime";

const [modelArn, refFile] = process.argv.slice(2);
const reference = readFileSync(refFile, "utf8");
const client = new BedrockRuntimeClient({ endpoint: process.env.STRATA_ENDPOINT, region: "us-east-1" });
function check(cond, msg) {
  if (!cond) {
    console.error("FAIL: " + msg);
    process.exit(1);
  }
}
const body = JSON.stringify({ prompt: "Once upon a time", max_gen_len: 251, temperature: 0 });

const inv = await client.send(new InvokeModelCommand({ modelId: modelArn, body, contentType: "application/json" }));
const gen = JSON.parse(new TextDecoder().decode(inv.body));
check(reference.startsWith(gen.generation) && gen.generation.length > 400, "greedy text: " + gen.generation);

const st = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: modelArn, body }));
let streamed = "";
for await (const ev of st.body) {
  check(ev.chunk, "event " + Object.keys(ev));
  streamed += JSON.parse(new TextDecoder().decode(ev.chunk.bytes)).generation;
}
check(streamed === gen.generation, "streamed text differs");

const messages = [{ role: "user", content: [{ text: "Tell me a story" }] }];
const conv = await client.send(new ConverseCommand({ modelId: modelArn, messages, inferenceConfig: { maxTokens: 20, temperature: 0 } }));
check(conv.output.message.role === "assistant" && conv.usage.outputTokens > 0, "converse " + JSON.stringify(conv));

const cs = await client.send(new ConverseStreamCommand({ modelId: modelArn, messages, inferenceConfig: { maxTokens: 20, temperature: 0 } }));
const kinds = [];
for await (const ev of cs.stream) {
  const k = Object.keys(ev)[0];
  if (kinds[kinds.length - 1] !== k) kinds.push(k);
}
check(kinds.join(",") === "messageStart,contentBlockDelta,contentBlockStop,messageStop,metadata", "converse stream events " + kinds);

try {
  await client.send(new InvokeModelCommand({ modelId: "no-such-model", body }));
  check(false, "unknown model accepted");
} catch (e) {
  check(e instanceof ResourceNotFoundException, "unknown model: " + e.name);
}
try {
  await client.send(new InvokeModelCommand({ modelId: modelArn, body: "{bad json" }));
  check(false, "bad JSON accepted");
} catch (e) {
  check(e instanceof ValidationException, "bad JSON: " + e.name);
}
console.log(JSON.stringify({ ok: true, h2: true }));
