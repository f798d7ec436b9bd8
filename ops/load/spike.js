// The blueprint's spike test: 100 users, a sudden jump to 2000, back to 100.
// k6 run -e TOKEN=$(sunday token) -e SCALE=0.2 ops/load/spike.js
import { mixedRequest, scaled, thresholds } from './common.js';
export { setup } from './common.js';

export const options = {
  scenarios: {
    spike_test: {
      executor: 'ramping-vus',
      startVUs: 100,
      stages: scaled([
        { seconds: 60, target: 100 },
        { seconds: 30, target: 2000 },
        { seconds: 60, target: 2000 },
        { seconds: 30, target: 100 },
        { seconds: 120, target: 100 },
      ]),
    },
  },
  thresholds,
};

export default mixedRequest;
