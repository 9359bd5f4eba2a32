package throughput

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis keeps quota buckets in Redis, shared by every replica. Buckets are
// GCRA states (redis_rate's "rate:KEY" values, a theoretical arrival time);
// Take without force is redis_rate's AllowN, and forced takes and gives run
// adjustScript on the same state, which redis_rate cannot do (a negative
// AllowN cost that would fill the bucket is dropped).
type Redis struct {
	rdb     *redis.Client
	limiter *redis_rate.Limiter
	prefix  string
}

var _ Backend = (*Redis)(nil)

// NewRedis returns a Backend on the Redis at url (redis://host:port/db),
// with every key under prefix. It checks that Redis answers.
func NewRedis(ctx context.Context, url, prefix string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("quotas: redis url: %w", err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("quotas: connecting to redis: %w", err)
	}
	return &Redis{rdb: rdb, limiter: redis_rate.NewLimiter(rdb), prefix: prefix}, nil
}

// Close closes the connection pool.
func (r *Redis) Close() error { return r.rdb.Close() }

func perMinute(limit int) redis_rate.Limit {
	return redis_rate.Limit{Rate: limit, Burst: limit, Period: time.Minute}
}

// Take implements Backend.
func (r *Redis) Take(ctx context.Context, key string, limit, n int, force bool) (bool, time.Duration, error) {
	n = min(n, limit)
	if force {
		err := r.adjust(ctx, key, limit, n)
		return err == nil, 0, err
	}
	res, err := r.limiter.AllowN(ctx, r.prefix+key, perMinute(limit), n)
	if err != nil {
		return false, 0, fmt.Errorf("quotas: redis: %w", err)
	}
	if res.Allowed == 0 {
		return false, max(res.RetryAfter, time.Millisecond), nil
	}
	return true, 0, nil
}

// Give implements Backend.
func (r *Redis) Give(ctx context.Context, key string, limit, n int) error {
	return r.adjust(ctx, key, limit, -n)
}

func (r *Redis) adjust(ctx context.Context, key string, limit, cost int) error {
	err := adjustScript.Run(ctx, r.rdb, []string{"rate:" + r.prefix + key}, limit, limit, time.Minute.Seconds(), cost).Err()
	if err != nil {
		return fmt.Errorf("quotas: redis: %w", err)
	}
	return nil
}

// adjustScript moves a redis_rate GCRA state by cost units unconditionally:
// a positive cost takes (into debt if need be), a negative one gives back,
// never past a full bucket. It uses redis_rate's time origin and encoding.
var adjustScript = redis.NewScript(`
local key = KEYS[1]
local rate = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local emission_interval = period / rate
local jan_1_2017 = 1483228800
local now = redis.call("TIME")
now = (now[1] - jan_1_2017) + (now[2] / 1000000)
local tat = redis.call("GET", key)
if not tat then
  tat = now
else
  tat = tonumber(tat)
end
tat = math.max(tat, now)
local new_tat = math.max(tat + emission_interval * cost, now)
local reset_after = new_tat - now
if reset_after > 0 then
  redis.call("SET", key, new_tat, "EX", math.ceil(reset_after))
else
  redis.call("DEL", key)
end
return tostring(reset_after)
`)
