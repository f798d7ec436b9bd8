// Shared by the k6 scenarios: the blueprint's weighted mix against Sunday's API.
// BASE_URL (default http://127.0.0.1:8080) and TOKEN (a JWT, e.g. from
// `sunday token`) come from the environment; setup() creates the data.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const HEADERS = { Authorization: `Bearer ${__ENV.TOKEN}`, 'Content-Type': 'application/json' };

export const thresholds = {
  http_req_duration: ['p(95)<200', 'p(99)<25'],
  http_req_failed: ['rate<0.01'],
  checks: ['rate>0.99'],
};

function post(path, body) {
  const r = http.post(`${BASE_URL}${path}`, JSON.stringify(body), { headers: HEADERS });
  if (r.status !== 201 && r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body}`);
  return r.json('data.id');
}

// One workspace, one board, 20 items, 5 files.
export function setup() {
  const ws = post('/v1/workspaces', { name: 'k6' });
  const board = post('/v1/boards', { workspaceId: ws, name: 'k6 board' });
  const items = [];
  for (let i = 0; i < 20; i++) items.push(post('/v1/items', { boardId: board, name: `item ${i}` }));
  for (let i = 0; i < 5; i++) post(`/v1/items/${items[i]}/files`, { name: `spec-${i}.pdf`, contentType: 'application/pdf', size: 1024 });
  return { board, items };
}

const MIX = [
  { weight: 40, name: 'GET /v1/boards', run: () => http.get(`${BASE_URL}/v1/boards`, { headers: HEADERS, tags: { name: 'GET /v1/boards' } }) },
  { weight: 30, name: 'GET /v1/items', run: (d) => http.get(`${BASE_URL}/v1/items?boardId=${d.board}`, { headers: HEADERS, tags: { name: 'GET /v1/items' } }) },
  { weight: 15, name: 'POST /v1/items', run: (d) => http.post(`${BASE_URL}/v1/items`, JSON.stringify({ boardId: d.board, name: `vu ${__VU}-${__ITER}` }), { headers: HEADERS, tags: { name: 'POST /v1/items' } }) },
  { weight: 10, name: 'PUT /v1/items/{id}', run: (d) => http.put(`${BASE_URL}/v1/items/${d.items[__ITER % d.items.length]}`, JSON.stringify({ description: `edit ${__VU}-${__ITER}` }), { headers: HEADERS, tags: { name: 'PUT /v1/items/{id}' } }) },
  { weight: 5, name: 'GET /v1/files', run: (d) => http.get(`${BASE_URL}/v1/files?boardId=${d.board}`, { headers: HEADERS, tags: { name: 'GET /v1/files' } }) },
];

// One request from the weighted mix, then one second of think time.
export function mixedRequest(data) {
  let roll = Math.random() * 100;
  const pick = MIX.find((m) => (roll -= m.weight) < 0) || MIX[0];
  const r = pick.run(data);
  check(r, { [`${pick.name} succeeded`]: (res) => res.status >= 200 && res.status < 300 });
  sleep(1);
}

// Multiplies stage durations: SCALE=0.1 runs a 17-minute scenario in 1.7.
export function scaled(stages) {
  const scale = Number(__ENV.SCALE || 1);
  return stages.map((s) => ({ duration: `${Math.max(1, Math.round(s.seconds * scale))}s`, target: s.target }));
}
