export { customerJourney } from './customer-journey.js';
