// Parses Mermaid blocks with the real Mermaid parser: a JSON list of texts on stdin, a JSON list on
// stdout with null for each block that parses and the parser's message for each that does not.
// Mermaid expects a browser: jsdom gives it a document (parsing needs no layout).
import fs from 'node:fs';
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
// GitHub's settings: strict security, and the default text limit (maxTextSize 50,000).
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });

const blocks = JSON.parse(fs.readFileSync(0, 'utf8'));
const results = [];
for (const text of blocks) {
  try {
    await mermaid.parse(text);
    results.push(null);
  } catch (error) {
    results.push(String((error && error.message) || error));
  }
}
process.stdout.write(JSON.stringify(results));
