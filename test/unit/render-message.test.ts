import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { CustomerDoc } from '../../src/db/models.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { renderMessage } from '../../src/delivery/render-message.js';

/** Templates that print customer data everywhere it can go: subject, HTML body, text body. */
const { definition } = parseDefinition({
  id: 'render_test',
  name: 'Render test',
  initialStage: 'prospect',
  stages: [{ id: 'prospect', label: 'Prospect' }],
  templates: [
    {
      id: 'echo',
      locales: {
        en: {
          subject: 'Hi {{ profile.firstName }} {{ profile.traits.nickname }}',
          html: '<p>{{ profile.firstName }}</p><p>{{ profile.traits.nickname }}</p><p>{{ event.properties.note }}</p>',
          text: '{{ profile.firstName }}|{{ profile.traits.nickname }}|{{ event.properties.note }}',
        },
      },
    },
    { id: 'include', locales: { en: { subject: 's', html: "{% include 'package.json' %}" } } },
    { id: 'render', locales: { en: { subject: 's', html: "{% render 'src/api/main.ts' %}" } } },
    { id: 'prototype', locales: { en: { subject: 's', html: '[{{ profile.traits.constructor }}][{{ profile.traits.nickname.size }}][{{ profile.constructor.name }}]' } } },
  ],
});

const profileWith = (firstName: string, traits: Record<string, unknown>): CustomerDoc => ({
  _id: 'render-1',
  email: 'r@example.com',
  firstName,
  traits,
  createdAt: new Date(0),
  updatedAt: new Date(0),
});

/** liquidjs's `escape`, the filter outputEscape applies to every HTML output. */
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');

const HOSTILE = [
  '{{ 7*7 }}',
  '{{ profile.email }}',
  '{% raw %}{{ x }}{% endraw %}',
  "{% include 'package.json' %}",
  '{{ "a" | upcase }}',
  '<script>alert("x")</script>',
  "O'Brien & <b>Sons</b>",
  '\u202eevil\u202c',
  'a\u200bb',
  'e\u0301',
  '👩‍👩‍👧‍👦',
  '{"$gt": ""}',
  'x'.repeat(10_000),
];

describe('rendering customer data into a message', () => {
  test('hostile text in a profile or event prints as written: HTML-escaped in the HTML body, literal in subject and text', async () => {
    for (const value of HOSTILE) {
      const rendered = await renderMessage(definition, 'echo', profileWith(value, { nickname: value }), { note: value });
      assert.equal(rendered.html, `<p>${escapeHtml(value)}</p><p>${escapeHtml(value)}</p><p>${escapeHtml(value)}</p>`, value.slice(0, 40));
      assert.equal(rendered.text, `${value}|${value}|${value}`);
      assert.equal(rendered.subject, `Hi ${value} ${value}`.trim());
      assert.doesNotMatch(rendered.html + rendered.text + rendered.subject, /\b49\b|r@example\.com/, 'nothing evaluated, no other field read');
    }
  });

  test('any string, as a property: the HTML body is its escape, the text body the string itself', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 60 }), async (value) => {
        const rendered = await renderMessage(definition, 'echo', profileWith('Ada', { nickname: 'n' }), { note: value });
        assert.equal(rendered.html, `<p>Ada</p><p>n</p><p>${escapeHtml(value)}</p>`);
        assert.equal(rendered.text, `Ada|n|${value}`);
      }),
      { seed: 20261126, numRuns: 500 },
    );
  });

  test('a subject is one line: line breaks in the data become spaces', async () => {
    const rendered = await renderMessage(definition, 'echo', profileWith('Ada\r\nBcc: x@evil.example', { nickname: 'n' }), {});
    assert.equal(rendered.subject, 'Hi Ada Bcc: x@evil.example n');
  });

  test('a template reads no file: include and render find nothing', async () => {
    const profile = profileWith('Ada', {});
    await assert.rejects(renderMessage(definition, 'include', profile, {}), /Failed to lookup "package\.json"/);
    await assert.rejects(renderMessage(definition, 'render', profile, {}), /Failed to lookup "src\/api\/main\.ts"/);
  });

  test('only own properties: no constructor or prototype members reach the output', async () => {
    const rendered = await renderMessage(definition, 'prototype', profileWith('Ada', { nickname: 'abc' }), {});
    assert.equal(rendered.html, '[][3][]');
  });
});
