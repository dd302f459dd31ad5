// `snakepit/dashboard`
export { serveDashboard } from './server.js';
export type { Dashboard, DashboardOptions } from './server.js';
