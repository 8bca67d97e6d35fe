// corsguard as a Fastify plugin: `fastify.register(require('corsguard/fastify'), { config })`.
// The same decisions and header writer as the middleware (index.js): preflights and refusals
// answered in `onRequest`, before routing to a handler; every other reply, errors and 404s
// included, gets the policy's headers in `onSend`.
'use strict';

const { Policy, PolicyError, _internal } = require('./index.js');
const { rewriteFor, applyOps } = require('./decisions.js');

const { policyFrom, startWatching, described } = _internal;
const kCors = Symbol('corsguard.cors');

function corsguardFastify(fastify, options, done) {
  let policy;
  try {
    policy = policyFrom(options);
  } catch (e) {
    // Refused at registration: `ready()` / `listen()` reject with the PolicyError.
    done(e);
    return;
  }
  const stop = startWatching(policy, options);

  fastify.decorate('corsguard', policy);
  fastify.decorateRequest(kCors, null);
  fastify.addHook('onClose', (_instance, next) => {
    stop();
    next();
  });

  fastify.addHook('onRequest', (request, reply, next) => {
    const cors = described(policy, request.raw, request.raw.url);
    request[kCors] = cors;
    const { verdict } = cors;
    if (verdict.forward) {
      next();
      return;
    }
    reply.code(verdict.status);
    if (verdict.body) reply.type('text/plain; charset=utf-8');
    reply.send(verdict.body);
  });

  fastify.addHook('onSend', (request, reply, payload, next) => {
    const cors = request[kCors];
    if (cors) {
      request[kCors] = null;
      // Fastify keeps the headers it will write apart from the raw response's; getHeaders
      // merges both, and both are cleared before a header is set.
      const names = Object.keys(reply.getHeaders());
      applyOps(rewriteFor(cors, names, reply), {
        removeHeader(name) {
          reply.removeHeader(name);
          reply.raw.removeHeader(name);
        },
        setHeader(name, value) {
          reply.raw.removeHeader(name);
          reply.removeHeader(name);
          reply.header(name, value);
        },
      });
    }
    next(null, payload);
  });
  done();
}

// Hooks registered at the root, not in an encapsulated child context: they must see every
// route, the 404 handler included (what fastify-plugin's wrapper does).
corsguardFastify[Symbol.for('skip-override')] = true;
corsguardFastify[Symbol.for('fastify.display-name')] = 'corsguard';

module.exports = corsguardFastify;
module.exports.default = corsguardFastify;
module.exports.corsguardFastify = corsguardFastify;
module.exports.Policy = Policy;
module.exports.PolicyError = PolicyError;
