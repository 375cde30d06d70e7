import type { Logger } from '@temporalio/worker';

/** A logger that drops everything: for bundling workflow code where webpack's progress is noise (tests, benches, the simulator). */
export const silentLogger: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
