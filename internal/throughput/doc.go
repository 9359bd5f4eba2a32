// Package throughput decides whether an invocation may run now, and owns
// the provisioned-throughput control plane.
//
// # On-demand quotas
//
// Each account has, on each model, a quota of requests per minute and of
// tokens (input plus output) per minute: by default 600 and 600,000, set in
// the configuration's quotas section, with overrides per account, per
// model or both. Quotas are token buckets that hold one minute's worth and
// refill continuously. Admit takes one request and reserves the estimated
// tokens (the prompt's tokens plus the request's max tokens); the
// Admission's Done gives back what was not used, or takes the overrun,
// letting the bucket go into debt. A request over either quota gets
// ThrottlingException ("Too many requests, please wait before trying
// again."), which the AWS SDKs retry.
//
// The buckets live in memory (Local, x/time/rate limiters) or in Redis
// (Redis, shared by every replica: redis_rate's GCRA, plus a script for
// the settling that redis_rate cannot do). Both pass one conformance
// suite. If Redis fails, requests are admitted and the failure logged:
// quotas protect capacity, they are not an access control.
//
// # Provisioned throughput
//
// A provisioned model reserves capacity for one imported model in model
// units. One model unit keeps one engine copy of the model loaded (never
// evicted while the provisioned model exists; further copies come from the
// residency manager's max_copies as load requires) and reserves
// StreamsPerUnit concurrent streams (4 by default). A provisioned model is
// Creating until its copy is loaded, then InService; moving it to another
// model (Update) makes it Updating, and the old model serves until the new
// one is loaded.
//
// Invoking by the provisioned-model ARN resolves (Service.Resolve, first
// in the runtime's resolver chain) to the model, with the provisioned ARN
// as the target's ARN. Admitter then takes one of its stream slots instead
// of on-demand quota, waiting up to QueueWait for one, else
// ThrottlingException. Utilization reports the streams in use against
// those reserved. Stream slots are counted per process: with several
// replicas each reserves the provisioned model's streams on its own.
//
// Commitments (OneMonth, SixMonths) are recorded with their expiry; unlike
// AWS, strata lets a committed provisioned model be deleted early, and logs
// it.
package throughput
