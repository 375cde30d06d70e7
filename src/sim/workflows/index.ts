// The simulator's workflow bundle: the real journey and broadcast workflows, and the simulation's own.
export { broadcastCampaign, customerJourney } from '../../../workflows/index.js';
export { broadcastClock } from './broadcast-clock.js';
export { simulatedCustomer } from './simulated-customer.js';
