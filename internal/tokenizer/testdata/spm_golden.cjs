// spm_golden.cjs produces golden ids with the real sentencepiece library
// (compiled to wasm in @sctg/sentencepiece-js), the reference for
// tokenizer.model encoding:
//
//   npm install @sctg/sentencepiece-js@1.3.3
//   node spm_golden.cjs MODEL golden_texts.json NAME > spm_NAME_golden.json
//
// For stories260K, MODEL is the tokenizer.model that FromLlama2C + WriteTo
// make from tok512.bin, so the test also proves sentencepiece reads it.
const { SentencePieceProcessor } = require("@sctg/sentencepiece-js");
const fs = require("fs");
async function main() {
  const [model, textsFile] = process.argv.slice(2);
  const spp = new SentencePieceProcessor();
  await spp.load(model);
  const texts = JSON.parse(fs.readFileSync(textsFile, "utf8"));
  const cases = texts.map((text) => ({ text, ids: spp.encodeIds(text), dec: spp.decodeIds(spp.encodeIds(text)) }));
  const lines = cases.map((c) => " " + JSON.stringify({text: c.text, ids: c.ids}));
  process.stdout.write(`{"tokenizer": ${JSON.stringify(process.argv[4] || model)}, "generator": "@sctg/sentencepiece-js@1.3.3 (sentencepiece compiled to wasm)", "cases": [\n${lines.join(",\n")}\n]}\n`);
  for (const c of cases) if (c.dec !== c.text) console.error("decode differs", JSON.stringify(c.text), JSON.stringify(c.dec));
}
main();
