// corsguard as a Fastify plugin: `fastify.register(require('corsguard/fastify'), { config })`.
// The same decisions and header writer as the middleware (index.js): preflights and refusals
// answered in `onRequest`, before routing to a handler; every other reply, errors and 404s
// included, gets the policy's headers in `onSend`.
'use strict';

const { Policy, PolicyError, _internal } = require('./index.js');

const { kNative, policyFrom, startWatching, responseHeaders, forEachSet, native } = _internal;
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
  const nativePolicy = policy[kNative];
  const stop = startWatching(policy, options);

  fastify.decorate('corsguard', policy);
  fastify.decorateRequest(kCors, null);
  fastify.addHook('onClose', (_instance, next) => {
    stop();
    next();
  });

  fastify.addHook('onRequest', (request, reply, next) => {
    const raw = request.raw;
    const result = nativePolicy.handle(raw.method, raw.url, raw.rawHeaders);
    if (result.status === undefined) {
      request[kCors] = result;
      next();
      return;
    }
    request[kCors] = result.cors;
    reply.code(result.status);
    if (result.body) reply.type('text/plain; charset=utf-8');
    reply.send(result.body);
  });

  fastify.addHook('onSend', (request, reply, payload, next) => {
    const cors = request[kCors];
    if (cors) {
      // Fastify keeps the headers it will write apart from the raw response's; both count.
      const { remove, set } = native.apply(
        cors,
        responseHeaders(
          () => Object.keys(reply.getHeaders()),
          (name) => reply.getHeader(name),
        ),
      );
      for (const name of remove) {
        reply.removeHeader(name);
        reply.raw.removeHeader(name);
      }
      forEachSet(set, (name, value) => {
        reply.raw.removeHeader(name);
        reply.removeHeader(name);
        reply.header(name, value);
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
