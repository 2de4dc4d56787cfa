// A payment mix through the saga API: mostly successes, some declines (insufficient funds),
// some cancels, every payment followed until it is terminal (polled, or with WAIT_S waited for).
//
// Run it with `saga load` (which provisions users, passes keys and checks invariants), or by
// hand against a running stack:
//   k6 run -e API_URL=http://127.0.0.1:8000 -e API_KEYS='{"alice":"...","dave":"..."}' \
//          -e USERS=alice -e POOR_USER=dave -e RATE=5 -e DURATION=30s k6/payments.js
//
// Environment:
//   API_URL, API_KEYS (JSON user -> bearer key) or API_KEYS_FILE (a credentials.json), USERS (comma list of funded users),
//   POOR_USER (a user who cannot afford anything: the decline path), RATE (payments/s),
//   DURATION, EXECUTOR (constant | ramping), TESTID, SUMMARY_PATH, EXPECTED_SUCCESS (comma list
//   of states a normal payment may end in; default "succeeded"), MIX (JSON shares of
//   success/decline/cancel), POLL_TIMEOUT_S, POLL_FIRST_S, POLL_MAX_S, WAIT_S (whole seconds,
//   0 to 20: wait with GET /payments/{id}?wait= instead of polling; default 0), API_P95_MS,
//   MAX_HTTP_FAILED, MIN_EXPECTED.
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';

const API = __ENV.API_URL;
const KEYS = loadKeys();
const USERS = (__ENV.USERS || '').split(',').filter((u) => u);
const POOR_USER = __ENV.POOR_USER;
const RATE = Number(__ENV.RATE || 10);
const DURATION = __ENV.DURATION || '30s';
const EXECUTOR = __ENV.EXECUTOR || 'constant';
const TESTID = __ENV.TESTID || `k6-${Date.now()}`;
const EXPECTED_SUCCESS = (__ENV.EXPECTED_SUCCESS || 'succeeded').split(',');
const MIX = JSON.parse(__ENV.MIX || '{"success": 0.8, "decline": 0.1, "cancel": 0.1}');
const POLL_TIMEOUT_S = Number(__ENV.POLL_TIMEOUT_S || 60);
// Wait for each saga's end with `GET /payments/{id}?wait=WAIT_S` (1 to 20); 0: poll instead.
const WAIT_S = Number(__ENV.WAIT_S || 0);
if (!(Number.isInteger(WAIT_S) && WAIT_S >= 0 && WAIT_S <= 20)) {
  throw new Error(`WAIT_S: "${__ENV.WAIT_S}" is not a whole number of seconds from 0 to 20`);
}
// Poll like a polite client: after 1 s, then twice as long each time, at most POLL_MAX_S.
const POLL_FIRST_S = Number(__ENV.POLL_FIRST_S || 1);
const POLL_MAX_S = Number(__ENV.POLL_MAX_S || 4);
const TERMINAL = ['succeeded', 'failed', 'cancelled'];

const outcomes = new Counter('saga_outcomes');
const expectedOutcome = new Rate('saga_expected_outcome');
const sagaDuration = new Trend('saga_e2e_duration', true);
const created = new Counter('saga_payments_created');

// API_KEYS (user -> key) from `saga load`, or API_KEYS_FILE: a credentials file (user -> key),
// which docker-compose's k6 service reads from the shared volume (the init service writes it).
function loadKeys() {
  if (!__ENV.API_KEYS_FILE) return JSON.parse(__ENV.API_KEYS || '{}');
  return JSON.parse(open(__ENV.API_KEYS_FILE));
}

function seconds(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`DURATION: cannot read "${text}" (use e.g. 30s, 2m)`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
}

// k6's arrival rates are whole iterations per time unit: a fractional RATE (9.5/s, from
// `saga bench --bisect`) runs as a whole number per several seconds (19 per 2 s).
function perTimeUnit(rate) {
  for (let seconds = 1; seconds <= 100; seconds++) {
    const whole = rate * seconds;
    if (Math.abs(whole - Math.round(whole)) < 1e-9) return { rate: Math.round(whole), timeUnit: `${seconds}s` };
  }
  throw new Error(`RATE: ${rate} is not a whole number of payments per 1 to 100 seconds`);
}

function executor() {
  // An iteration lasts the whole saga (polled to its end): budget ~15 s of VUs per arrival/s.
  const unit = perTimeUnit(RATE);
  const vus = { preAllocatedVUs: Math.max(10, Math.ceil(RATE * 15)), maxVUs: Math.max(50, Math.ceil(RATE * 40)) };
  if (EXECUTOR === 'ramping') {
    // Ramp to RATE over the first third, hold, ramp down over the last sixth.
    const total = seconds(DURATION);
    return {
      executor: 'ramping-arrival-rate',
      startRate: Math.max(1, Math.round(unit.rate / 10)),
      timeUnit: unit.timeUnit,
      stages: [
        { target: unit.rate, duration: `${Math.round(total / 3)}s` },
        { target: unit.rate, duration: `${Math.round(total / 2)}s` },
        { target: 0, duration: `${Math.max(1, Math.round(total / 6))}s` },
      ],
      ...vus,
    };
  }
  if (EXECUTOR !== 'constant') throw new Error(`EXECUTOR: "${EXECUTOR}" is not constant or ramping`);
  return { executor: 'constant-arrival-rate', ...unit, duration: DURATION, ...vus };
}

export const options = {
  scenarios: { payments: { ...executor(), gracefulStop: `${POLL_TIMEOUT_S + 10}s` } },
  tags: { testid: TESTID },
  thresholds: {
    http_req_failed: [`rate<${__ENV.MAX_HTTP_FAILED || 0.02}`],
    'http_req_duration{api:create}': [`p(95)<${__ENV.API_P95_MS || 1000}`],
    'http_req_duration{api:status}': [`p(95)<${__ENV.API_P95_MS || 1000}`],
    'http_req_duration{api:state}': [`p(95)<${__ENV.API_P95_MS || 1000}`],
    saga_expected_outcome: [`rate>${__ENV.MIN_EXPECTED || 0.95}`],
    checks: ['rate>0.95'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

function pick() {
  const r = Math.random();
  if (r < MIX.success) return 'success';
  if (r < MIX.success + MIX.decline) return 'decline';
  return 'cancel';
}

function headers(user, extra) {
  return { headers: { Authorization: `Bearer ${KEYS[user]}`, 'Content-Type': 'application/json', ...extra } };
}

// Read the full view with `?wait=`: each request is held while the saga runs (at most WAIT_S)
// and answered as it ends, so a payment costs one read, not a poll loop. Its requests are
// tagged api:wait and have no latency threshold: they last as long as the saga.
function waitForEnd(id, user, started) {
  for (;;) {
    const left = POLL_TIMEOUT_S - (Date.now() - started) / 1000;
    if (left <= 0) return null;
    const r = http.get(`${API}/payments/${id}?wait=${Math.max(1, Math.min(WAIT_S, Math.ceil(left)))}`, {
      ...headers(user), tags: { api: 'wait', name: 'GET /payments/{id}?wait' },
    });
    if (r.status === 200 && TERMINAL.includes(r.json('state'))) {
      return { state: r.json('state'), reason: r.json('reason') };
    }
    // A refusal (a Temporal outage's 503, a 429) is answered at once: do not spin on it.
    if (r.status !== 200) sleep(1);
  }
}

// Poll the cheap state endpoint (no workflow query) until the saga ends, then read the full
// view once.
function pollForEnd(id, user, started) {
  let wait = POLL_FIRST_S;
  let done = false;
  while (!done && Date.now() - started < POLL_TIMEOUT_S * 1000) {
    sleep(wait);
    wait = Math.min(wait * 2, POLL_MAX_S);
    const s = http.get(`${API}/payments/${id}/state`, {
      ...headers(user), tags: { api: 'state', name: 'GET /payments/{id}/state' },
    });
    done = s.status === 200 && s.json('done') === true;
  }
  if (!done) return null;
  const full = http.get(`${API}/payments/${id}`, {
    ...headers(user), tags: { api: 'status', name: 'GET /payments/{id}' },
  });
  if (!check(full, { 'status read (200)': (r) => r.status === 200 })) return null;
  return { state: full.json('state'), reason: full.json('reason') };
}

export default function () {
  const kind = POOR_USER ? pick() : 'success';
  const user = kind === 'decline' ? POOR_USER : USERS[exec.scenario.iterationInTest % USERS.length];
  const amount = 100 + Math.floor(Math.random() * 4900);
  const method = Math.random() < 0.8 ? 'card' : 'wallet';
  const key = `${TESTID}-${exec.scenario.iterationInTest}`;
  const started = Date.now();
  const res = http.post(
    `${API}/payments`,
    JSON.stringify({ user_id: user, amount, currency: 'USD', payment_method: method }),
    { ...headers(user, { 'Idempotency-Key': key }), tags: { api: 'create', name: 'POST /payments' } },
  );
  if (!check(res, { 'payment accepted (202)': (r) => r.status === 202 })) {
    expectedOutcome.add(false);
    // The saga may still have started (e.g. the response was lost): `saga load` looks it up.
    console.log(JSON.stringify({ payment_id: null, key, user, kind, state: 'unsent', expected: false }));
    return;
  }
  const id = res.json('payment_id');
  created.add(1);
  if (kind === 'cancel') {
    const c = http.post(`${API}/payments/${id}/cancel`, null, {
      ...headers(user), tags: { api: 'cancel', name: 'POST /payments/{id}/cancel' },
    });
    check(c, { 'cancel accepted (202)': (r) => r.status === 202 });
  }
  const ended = WAIT_S > 0 ? waitForEnd(id, user, started) : pollForEnd(id, user, started);
  const state = ended ? ended.state : 'pending';
  const reason = ended ? ended.reason : null;
  const expected = {
    success: EXPECTED_SUCCESS,
    decline: ['failed'],
    cancel: ['cancelled'],
  }[kind];
  const ok = expected.includes(state);
  outcomes.add(1, { outcome: state, kind });
  expectedOutcome.add(ok, { kind });
  if (TERMINAL.includes(state)) sagaDuration.add(Date.now() - started, { kind });
  // One line per payment for `saga load`, which checks the invariants over exactly these.
  console.log(JSON.stringify({ payment_id: id, key, user, kind, state, reason, expected: ok }));
}

export function handleSummary(data) {
  const out = {};
  if (__ENV.SUMMARY_PATH) out[__ENV.SUMMARY_PATH] = JSON.stringify(data, null, 2);
  else out.stdout = JSON.stringify(data.metrics, null, 2);
  return out;
}
