// The blueprint's stress test: 0 -> 1000 -> 2000 -> 3000 users, then down.
// k6 run -e TOKEN=$(sunday token) -e SCALE=0.1 ops/load/stress.js
import { mixedRequest, scaled, thresholds } from './common.js';
export { setup } from './common.js';

export const options = {
  scenarios: {
    stress_test: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: scaled([
        { seconds: 120, target: 1000 },
        { seconds: 300, target: 2000 },
        { seconds: 300, target: 3000 },
        { seconds: 120, target: 0 },
      ]),
    },
  },
  thresholds,
};

export default mixedRequest;
