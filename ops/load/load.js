// The blueprint's ramping load: 0 -> 100 -> 500 -> 1000 users, hold, ramp down.
// k6 run -e TOKEN=$(sunday token) -e SCALE=0.1 ops/load/load.js
import { mixedRequest, scaled, thresholds } from './common.js';
export { setup } from './common.js';

export const options = {
  scenarios: {
    api_load_test: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: scaled([
        { seconds: 120, target: 100 },
        { seconds: 300, target: 500 },
        { seconds: 180, target: 1000 },
        { seconds: 300, target: 1000 },
        { seconds: 120, target: 0 },
      ]),
    },
  },
  thresholds,
};

export default mixedRequest;
