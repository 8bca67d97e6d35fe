// Compiled with `tsc --noEmit` by scripts/test: the definitions describe the API as used.
import * as http from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { corsguard, Policy, PolicyError, type Decision } from 'corsguard';
import corsguardFastify = require('corsguard/fastify');

const cors = corsguard({ config: 'corsguard.toml', profile: 'production', watch: { interval: 500 } });
const app = express();
app.use(cors);
http.createServer((req, res) => cors(req, res, () => res.end()));

const policy: Policy = Policy.fromToml('[profiles.p]\norigins = ["https://a.example.com"]');
const decision: Decision = policy.decide({ method: 'GET', url: '/', headers: { origin: 'https://a.example.com' } });
const status: number | null = decision.status;
policy.reload().watch({ onError: (e: PolicyError) => console.error(e.diagnostics[0].code) });

const fastify = Fastify();
fastify.register(corsguardFastify, { config: 'corsguard.toml' });
void status;
