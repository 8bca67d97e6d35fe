// Type definitions for corsguard/fastify.
import type { FastifyPluginCallback } from 'fastify';
import type { CorsguardOptions, Policy, PolicyError } from './index';

declare module 'fastify' {
  interface FastifyInstance {
    /** The policy the plugin enforces (reload it with `.reload()`). */
    corsguard: Policy;
  }
}

declare const corsguardFastify: FastifyPluginCallback<CorsguardOptions> & {
  default: typeof corsguardFastify;
  corsguardFastify: typeof corsguardFastify;
  Policy: typeof Policy;
  PolicyError: typeof PolicyError;
};
export = corsguardFastify;
