// Type definitions for corsguard (the Node.js package).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** One entry of `corsguard check --format json`'s `diagnostics`. */
export interface Diagnostic {
  code: string;
  severity: 'error' | 'warning';
  message: string;
  profile: string | null;
  line: number | null;
  column: number | null;
  help: string;
}

/** A policy file that does not build. `message` is `corsguard check`'s human output. */
export class PolicyError extends Error {
  readonly name: 'PolicyError';
  /** `corsguard check --format json`'s `diagnostics` array. */
  readonly diagnostics: Diagnostic[];
  readonly errors: number;
  readonly warnings: number;
}

/** What `corsguard explain --format json` prints for one request. */
export interface Decision {
  kind: 'preflight' | 'actual' | 'not_cors';
  allowed: boolean;
  forwarded: boolean;
  /** Set when corsguard answers itself (204 or 403) and the application is not called. */
  status: number | null;
  /** A reason code, e.g. `allowed`, `origin-not-allowed`, `method-not-allowed`. */
  reason: string;
  /** The CORS and Vary headers corsguard puts on the response, lowercase names. */
  headers: Record<string, string>;
}

/** Request headers as Node code holds them. */
export type RequestHeaders =
  | Record<string, string | string[] | undefined>
  | Array<[string, string]>
  | string[]
  | Headers;

export interface DecideRequest {
  /** Default `GET`. */
  method?: string;
  /** Path and query, default `/`. */
  url?: string;
  headers?: RequestHeaders;
}

export interface WatchOptions {
  /** How often the file is polled, in milliseconds (default 1000). */
  interval?: number;
  onReload?: (policy: Policy) => void;
  /** Called with the PolicyError of a refused reload (default: printed to stderr). */
  onError?: (error: PolicyError) => void;
}

/** A validated policy. */
export class Policy {
  private constructor();
  /** Reads and validates a policy file; throws PolicyError. */
  static fromFile(path: string, profile?: string | null): Policy;
  /** Validates policy-file text; throws PolicyError. `path` names it in diagnostics. */
  static fromToml(text: string, profile?: string | null, options?: { path?: string }): Policy;
  readonly profile: string;
  readonly warnings: Diagnostic[];
  decide(request?: DecideRequest): Decision;
  /**
   * Swaps in a new policy (from `text`, or by reading the file again). An invalid one throws
   * PolicyError and the current policy keeps serving.
   */
  reload(text?: string): this;
  /** Reloads on every change of the file; returns a function that stops watching. */
  watch(options?: WatchOptions): () => void;
}

export interface CorsguardOptions {
  /** The policy file's path (or give `policy`). */
  config?: string;
  /** The profile; default CORSGUARD_PROFILE, then the file's `default_profile`. */
  profile?: string | null;
  /** A policy made beforehand, instead of `config`. */
  policy?: Policy;
  /** Reload when the file changes: `true` or `{ interval }`. */
  watch?: boolean | { interval?: number };
  onReload?: (policy: Policy) => void;
  onError?: (error: PolicyError) => void;
}

/** Connect/Express/node:http middleware. */
export interface CorsguardMiddleware {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  readonly policy: Policy;
  reload(text?: string): Policy;
  /** Stops watching the file. */
  close(): void;
  /** For `server.on('upgrade')`: false when the handshake was refused (and answered). */
  checkUpgrade(req: IncomingMessage, socket: Duplex): boolean;
}

/** Middleware enforcing the policy; throws PolicyError at once for an invalid policy. */
export function corsguard(options: CorsguardOptions): CorsguardMiddleware;
