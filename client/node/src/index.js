// taskmill for Node: the client, the worker, the errors and the TM1 protocol.

export {Client, elapsedMs} from './client.js';
export {EndpointListError} from './endpoints.js';
export {Job} from './job.js';
export {checkArtifactName, writeArtifacts} from './artifacts.js';
export {Subscription} from './subscription.js';
export {Awaiting, Poll, Worker} from './worker.js';
export {parseDuration} from './duration.js';
export {BrokerUnavailable, Forbidden, InvalidSpec, NotFound, PermanentError, QueueFull,
  StoreFull, TaskFailed, TaskmillError, TaskmillTimeout, TaskmillWarning,
  Unauthorized} from './errors.js';
export {TASK_STATES, TERMINAL_STATES} from './schema.js';
export * as protocol from './protocol.js';
export * as curve from './curve.js';
export {CurveKeyError} from './curve.js';
