// An Express API behind corsguard: `node examples/express.js` (after `npm run build`), then
// call it from a page on one of the origins in examples/corsguard.toml.
//
//   CORSGUARD_CONFIG  the policy file (default: examples/corsguard.toml beside this file)
//   CORSGUARD_PROFILE the profile (default: the file's default_profile)
//   PORT              the loopback port (default 3000)
'use strict';

const path = require('node:path');
const express = require('express');
const { corsguard } = require('corsguard');

const app = express();
// The one line that matters: the policy file `corsguard check` lints and `corsguard serve`
// enforces, here in-process. An invalid file throws a PolicyError now, not at the first
// request; `watch` reloads it when it changes (a broken edit is refused, the old one serves).
app.use(corsguard({ config: process.env.CORSGUARD_CONFIG || path.join(__dirname, 'corsguard.toml'), watch: true }));

const orders = [];

app.get('/api/profile', (req, res) => {
  res.set('X-Request-Id', '42').json({ name: 'Ada', cookie: req.get('cookie') || null });
});

app.put('/api/items/:id', express.json(), (req, res) => {
  if (req.get('authorization') !== 'Bearer t0ken') return res.status(401).send('no token');
  res.json({ id: req.params.id, saved: true });
});

// A route from before corsguard that still sets its own CORS header: corsguard replaces it,
// so a page the policy does not list still cannot read the answer.
app.get('/api/legacy', (req, res) => {
  res.set('Access-Control-Allow-Origin', '*').send('legacy data');
});

app.post('/api/orders', express.text({ type: '*/*' }), (req, res) => {
  orders.push(req.body);
  res.status(201).send('ordered');
});

app.get('/api/orders', (req, res) => res.json({ count: orders.length }));

app.get('/api/fail', () => {
  throw new Error('the database is down');
});

// Errors keep their CORS headers: an allowed page reads this 500 instead of a "CORS error".
app.use((err, req, res, next) => {
  res.status(500).json({ error: err.message });
});

const port = Number(process.env.PORT || 3000);
app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
