package redisstore

import (
	"context"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// Identities is a store.Identities in Redis. For a prefix P and an id:
//
//	P t:id  hash {e, f, l, c, ct}: email, first and last name, the last
//	        affiliate click's id and time (Unix ms), with the TTL
//	P l:id  string: the id that id links to, with the TTL
//	P b:id  set: the ids linking to id, with the TTL
//
// Every write renews the TTL of the keys it writes. Forget erases the whole
// person: every id reachable from id through links in either direction.
// Safe for concurrent use, by any number of replicas.
type Identities struct {
	c    goredis.UniversalClient
	opts Options
}

// NewIdentities returns the identity store on c. It does not own c.
func NewIdentities(c goredis.UniversalClient, opts Options) *Identities {
	install()
	return &Identities{c: c, opts: opts.withDefaults()}
}

func (s *Identities) key(kind, id string) string { return s.opts.Prefix + kind + id }

// lookupScript returns id's fields, then those of the id it links to.
var lookupScript = goredis.NewScript(`
local t = redis.call('HMGET', KEYS[1], 'e', 'f', 'l', 'c', 'ct')
local to = redis.call('GET', KEYS[2])
local lt = {false, false, false, false, false}
if to then lt = redis.call('HMGET', ARGV[1] .. 't:' .. to, 'e', 'f', 'l', 'c', 'ct') end
return {t[1], t[2], t[3], t[4], t[5], lt[1], lt[2], lt[3], lt[4], lt[5]}`)

// Lookup implements store.Identities.
func (s *Identities) Lookup(ctx context.Context, id string) (mapping.Traits, bool, error) {
	res, err := lookupScript.Run(ctx, s.c, []string{s.key("t:", id), s.key("l:", id)}, s.opts.Prefix).Slice()
	if err != nil {
		return mapping.Traits{}, false, outcome(ctx, identityStore, "lookup", err)
	}
	logs.ok(ctx)
	var f [10]string
	for i := range min(len(res), len(f)) {
		f[i], _ = res[i].(string)
	}
	t := mapping.Traits{Email: f[0], FirstName: f[1], LastName: f[2], Click: click(f[3], f[4])}
	t = t.Fill(mapping.Traits{Email: f[5], FirstName: f[6], LastName: f[7], Click: click(f[8], f[9])})
	return t, !t.IsZero(), nil
}

// mergeScript sets the non-empty fields, and the click when it is later
// than the stored one, and renews the TTL.
var mergeScript = goredis.NewScript(`
local n = 0
for i, f in ipairs({'e', 'f', 'l'}) do
  if ARGV[i + 1] ~= '' then redis.call('HSET', KEYS[1], f, ARGV[i + 1]); n = n + 1 end
end
if ARGV[5] ~= '' then
  local at = tonumber(redis.call('HGET', KEYS[1], 'ct') or '-1')
  if tonumber(ARGV[6]) > at then redis.call('HSET', KEYS[1], 'c', ARGV[5], 'ct', ARGV[6]) end
  n = n + 1
end
if n > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// Merge implements store.Identities.
func (s *Identities) Merge(ctx context.Context, id string, t mapping.Traits) error {
	if t.IsZero() {
		return ctx.Err()
	}
	err := mergeScript.Run(ctx, s.c, []string{s.key("t:", id)}, ms(s.opts.IdentityTTL), t.Email, t.FirstName, t.LastName,
		t.Click.AffiliateID, strconv.FormatInt(t.Click.At, 10)).Err()
	return outcome(ctx, identityStore, "merge", err)
}

// linkScript moves from's link to to, and fills to's gaps from from's fields.
var linkScript = goredis.NewScript(`
local old = redis.call('GET', KEYS[1])
if old and old ~= ARGV[2] then redis.call('SREM', ARGV[4] .. 'b:' .. old, ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
local ft = redis.call('HGETALL', KEYS[3])
local filled = 0
local fc, fct = nil, nil
for i = 1, #ft, 2 do
  if ft[i] == 'c' then fc = ft[i + 1]
  elseif ft[i] == 'ct' then fct = ft[i + 1]
  else filled = filled + redis.call('HSETNX', KEYS[4], ft[i], ft[i + 1]) end
end
if fc and fct and tonumber(fct) > tonumber(redis.call('HGET', KEYS[4], 'ct') or '-1') then
  redis.call('HSET', KEYS[4], 'c', fc, 'ct', fct)
  filled = filled + 1
end
if filled > 0 then redis.call('PEXPIRE', KEYS[4], ARGV[1]) end
return filled`)

// Link implements store.Identities.
func (s *Identities) Link(ctx context.Context, from, to string) error {
	if from == to {
		return ctx.Err()
	}
	keys := []string{s.key("l:", from), s.key("b:", to), s.key("t:", from), s.key("t:", to)}
	return outcome(ctx, identityStore, "link", linkScript.Run(ctx, s.c, keys, ms(s.opts.IdentityTTL), to, from, s.opts.Prefix).Err())
}

// forgetScript erases the person of ARGV[2]: it follows links both ways; a
// member of a back set counts unless its link now points elsewhere.
var forgetScript = goredis.NewScript(`
local p = ARGV[1]
local seen = {[ARGV[2]] = true}
local queue = {ARGV[2]}
local i = 1
while i <= #queue do
  local x = queue[i]
  i = i + 1
  local next = {}
  local to = redis.call('GET', p .. 'l:' .. x)
  if to then table.insert(next, to) end
  for _, f in ipairs(redis.call('SMEMBERS', p .. 'b:' .. x)) do
    local ft = redis.call('GET', p .. 'l:' .. f)
    if not ft or ft == x then table.insert(next, f) end
  end
  for _, n in ipairs(next) do
    if not seen[n] then seen[n] = true; table.insert(queue, n) end
  end
end
local ids, traits, links = 0, 0, 0
for _, x in ipairs(queue) do
  local t = redis.call('DEL', p .. 't:' .. x)
  local l = redis.call('DEL', p .. 'l:' .. x)
  local b = redis.call('DEL', p .. 'b:' .. x)
  if t + l + b > 0 then ids = ids + 1 end
  traits, links = traits + t, links + l
end
return {ids, traits, links}`)

// Forget implements store.Identities: it erases id and every id
// linked to it, directly or through other links.
func (s *Identities) Forget(ctx context.Context, id string) error {
	_, err := s.Erase(ctx, id)
	return err
}

// Erase implements store.Eraser.
func (s *Identities) Erase(ctx context.Context, id string) (store.Erased, error) {
	res, err := forgetScript.Run(ctx, s.c, nil, s.opts.Prefix, id).Int64Slice()
	if err != nil {
		return store.Erased{}, outcome(ctx, identityStore, "forget", err)
	}
	logs.ok(ctx)
	var n store.Erased
	if len(res) == 3 {
		n = store.Erased{IDs: int(res[0]), Traits: int(res[1]), Links: int(res[2])}
	}
	return n, nil
}

// Flush implements store.Identities. Every change is on the server when its
// call returns (how long the server keeps it is its persistence settings'
// affair), so Flush returns nil.
func (s *Identities) Flush(context.Context) error { return nil }

// Ping reports whether the server answers.
func (s *Identities) Ping(ctx context.Context) error { return ping(ctx, s.c) }

// click reads a stored click's fields; a missing or unreadable time is no
// click.
func click(id, at string) mapping.Click {
	n, err := strconv.ParseInt(at, 10, 64)
	if id == "" || err != nil {
		return mapping.Click{}
	}
	return mapping.Click{AffiliateID: id, At: n}
}

var _ store.Eraser = (*Identities)(nil)
