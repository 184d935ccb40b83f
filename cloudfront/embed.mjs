// Copies cloudfront/viewer-request.js into the `FunctionCode: |` block of template.yaml.
// Run after editing the function: node cloudfront/embed.mjs
// (viewer-request.test.mjs and deploy/test_template.py fail while the two differ.)
import { readFileSync, writeFileSync } from 'node:fs';

const here = new URL('./', import.meta.url);
const templateUrl = new URL('../template.yaml', here);
const source = readFileSync(new URL('viewer-request.js', here), 'utf8');
const lines = readFileSync(templateUrl, 'utf8').split('\n');

const start = lines.findIndex((l) => /^\s*FunctionCode: \|$/.test(l));
if (start === -1) throw new Error('template.yaml has no `FunctionCode: |` block');
const keyIndent = lines[start].search(/\S/);
let end = start + 1;
while (end < lines.length && (lines[end].trim() === '' || lines[end].search(/\S/) > keyIndent)) end++;
// Keep blank lines that separate the block from the next key.
while (end > start + 1 && lines[end - 1].trim() === '') end--;

const pad = ' '.repeat(keyIndent + 2);
const body = source.replace(/\n$/, '').split('\n').map((l) => (l === '' ? '' : pad + l));
lines.splice(start + 1, end - start - 1, ...body);
writeFileSync(templateUrl, lines.join('\n'));
console.log(`embedded ${source.length} bytes of viewer-request.js into template.yaml`);
