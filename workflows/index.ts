export { broadcastCampaign } from './broadcast-campaign.js';
export { customerJourney } from './customer-journey.js';
export { anonymousHistory } from './anonymous-history.js';
