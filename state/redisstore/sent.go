package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/store"
)

// Sent is a store.Sent in Redis, shared by every replica. For a prefix
// P, the key "P s:order_id" holds "c:" and the claim's token while claimed,
// expiring with the lease, and "s" once confirmed, expiring after SentTTL.
// The content recorded with a confirmed order_id (store.Claim's Fingerprint
// and Summary) is in a key of its own, "P sc:order_id", set and expiring
// with it (see encodeContent): "P s:order_id" keeps the form every version
// reads, so that replicas of an earlier version, in a rolling upgrade, still
// skip the order_ids a newer one confirmed; an order_id confirmed without a
// content key (by such a replica) reads as content unknown.
// The hash "P store" holds the store's identity (store.Identified: id and
// created), without expiry. Once a Sent has read or adopted the identity,
// its claims check that the server still holds it: a server that lost its
// data (restarted without persistence, flushed, or another database behind
// REDIS_URL) answers every claim with ErrLost instead of letting orders
// already sent be sent again.
//
// The loss is also recorded in the server, in the same script as the
// claim, confirm or renewal that meets it (so that a relay killed right
// after still leaves it): when "P store" holds no identity, the hash
// "P store:lost" (id: the identity lost, at: when it was found missing) is
// set, without expiry. Until Adopt clears it, Origin reads the store as New
// and Lost, whatever order_ids the sends in flight at the loss confirmed
// into the emptied server since. Safe for concurrent use.
type Sent struct {
	c    goredis.UniversalClient
	opts Options

	id       atomic.Pointer[string] // the identity claims check; nil until read or adopted
	lostOnce sync.Once
}

// ErrLost is the failure of every claim of a Sent whose server no longer
// holds the store's identity: the orders it recorded as sent are gone.
var ErrLost = errors.New("the server no longer holds the sent-order store's identity: it restarted without persistence, was flushed, " +
	"or REDIS_URL names another database, and the orders recorded as sent are lost. No order is claimed until the relay restarts; " +
	"it then refuses to start on the new store unless told to (STATE_ACCEPT_NEW=true, or run --accept-new-state), since orders read again may be sent again")

// NewSent returns the sent-order store on c. It does not own c.
func NewSent(c goredis.UniversalClient, opts Options) *Sent {
	install()
	return &Sent{c: c, opts: opts.withDefaults()}
}

// lostLua is the start of the scripts that write an order_id's keys:
// lost(store, marker, expected, now) reports whether the store's identity
// (the hash store) is not expected (never when expected is empty), and
// records the loss in marker (see Sent) when the identity is missing.
const lostLua = `
local function lost(store, marker, expected, now)
  if expected == '' then return false end
  local id = redis.call('HGET', store, 'id')
  if id == expected then return false end
  if not id then
    redis.call('HSETNX', marker, 'id', expected)
    redis.call('HSETNX', marker, 'at', now)
  end
  return true
end
`

// claimScript takes a free order_id: {1} claimed, {2, content} already
// sent, with the content recorded (KEYS[3]; empty when none), {3} held; {4},
// taking nothing, when the store's identity (KEYS[2]) is not ARGV[3]
// (unless that is empty), the loss recorded in KEYS[4] at ARGV[4].
var claimScript = goredis.NewScript(lostLua + `
if lost(KEYS[2], KEYS[4], ARGV[3], ARGV[4]) then return {4} end
local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return {1} end
if v == 's' then return {2, redis.call('GET', KEYS[3]) or ''} end
return {3}`)

// confirmScript records the order_id (KEYS[1]) as sent for ARGV[1] ms, with
// its content ARGV[2] in KEYS[2], or no content key when ARGV[2] is empty.
// It does so even when the store's identity (KEYS[3]) is not ARGV[3] (the
// order was sent: a store accepted later then still skips it), recording
// the loss in KEYS[4] at ARGV[4] when the identity is missing.
var confirmScript = goredis.NewScript(lostLua + `
lost(KEYS[3], KEYS[4], ARGV[3], ARGV[4])
redis.call('SET', KEYS[1], 's', 'PX', ARGV[1])
if ARGV[2] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1]) end
return 1`)

// releaseScript deletes the claim only if it is still the caller's.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// renewScript extends the caller's claim, or takes the order_id again if
// its lease expired with nobody taking it: 1 held, 0 lost. As confirmScript,
// it records a missing identity (KEYS[2], ARGV[3]) in KEYS[3] at ARGV[4].
var renewScript = goredis.NewScript(lostLua + `
lost(KEYS[2], KEYS[3], ARGV[3], ARGV[4])
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
return 0`)

func (s *Sent) key(orderID string) string { return s.opts.Prefix + "s:" + orderID }

func (s *Sent) contentKey(orderID string) string { return s.opts.Prefix + "sc:" + orderID }

// encodeContent is the value of a content key: the fingerprint's length in
// decimal, ":", the fingerprint, then the summary; "" when both are empty.
func encodeContent(fingerprint, summary string) string {
	if fingerprint == "" && summary == "" {
		return ""
	}
	return strconv.Itoa(len(fingerprint)) + ":" + fingerprint + summary
}

// decodeContent reads a content key's value; one that does not read holds
// no content.
func decodeContent(v string) (fingerprint, summary string) {
	n, rest, ok := strings.Cut(v, ":")
	if !ok {
		return "", ""
	}
	l, err := strconv.Atoi(n)
	if err != nil || l < 0 || l > len(rest) {
		return "", ""
	}
	return rest[:l], rest[l:]
}

func (s *Sent) storeKey() string { return s.opts.Prefix + "store" }

// lostKey is the key of the loss marker (see Sent).
func (s *Sent) lostKey() string { return s.opts.Prefix + "store:lost" }

// now is the time a loss marker records.
func now() string { return time.Now().UTC().Format(time.RFC3339) }

// expected is the identity claims check, "" before it is known.
func (s *Sent) expected() string {
	if id := s.id.Load(); id != nil {
		return *id
	}
	return ""
}

// Claim implements store.Sent.
func (s *Sent) Claim(ctx context.Context, orderID string, lease time.Duration) (store.Claim, error) {
	if lease <= 0 {
		return store.Claim{}, errors.New("redis sent store: lease must be positive")
	}
	token := rand.Text()
	res, err := claimScript.Run(ctx, s.c, []string{s.key(orderID), s.storeKey(), s.contentKey(orderID), s.lostKey()},
		"c:"+token, ms(lease), s.expected(), now()).Slice()
	var n int64
	if err == nil {
		n, err = claimAnswer(res)
	}
	if err != nil {
		// The server may have taken the claim before the connection failed;
		// nobody would release it, and the order would wait out the lease.
		// Release it once the server answers again.
		go s.releaseLost(s.key(orderID), "c:"+token, time.Now().Add(lease))
		return store.Claim{}, outcome(ctx, sentStore, "claim", err)
	}
	logs.ok(ctx)
	switch n {
	case 1:
		return store.Claim{OrderID: orderID, Status: store.Claimed, Token: token}, nil
	case 2:
		c := store.Claim{OrderID: orderID, Status: store.AlreadySent}
		if len(res) > 1 {
			v, _ := res[1].(string)
			c.Fingerprint, c.Summary = decodeContent(v)
		}
		return c, nil
	case 4:
		s.lostOnce.Do(func() {
			logs.logger().LogAttrs(ctx, slog.LevelError, "the redis sent-order store lost its data: no order is claimed until the relay restarts",
				slog.String("store_id", s.expected()), slog.String("error", ErrLost.Error()))
		})
		return store.Claim{}, &failure.StoreUnavailable{Store: sentStore, Err: ErrLost}
	default:
		return store.Claim{OrderID: orderID, Status: store.HeldElsewhere}, nil
	}
}

// claimAnswer is the status code claimScript answered.
func claimAnswer(res []any) (int64, error) {
	if len(res) > 0 {
		if n, ok := res[0].(int64); ok {
			return n, nil
		}
	}
	return 0, fmt.Errorf("unexpected answer to a claim: %v", res)
}

// Confirm implements store.Sent: the order_id is sent whoever holds it,
// with c's content.
func (s *Sent) Confirm(ctx context.Context, c store.Claim) error {
	err := confirmScript.Run(ctx, s.c, []string{s.key(c.OrderID), s.contentKey(c.OrderID), s.storeKey(), s.lostKey()},
		ms(s.opts.SentTTL), encodeContent(c.Fingerprint, c.Summary), s.expected(), now()).Err()
	return outcome(ctx, sentStore, "confirm", err)
}

// Release implements store.Sent.
func (s *Sent) Release(ctx context.Context, c store.Claim) error {
	return outcome(ctx, sentStore, "release", releaseScript.Run(ctx, s.c, []string{s.key(c.OrderID)}, "c:"+c.Token).Err())
}

// Renew implements store.Sent.
func (s *Sent) Renew(ctx context.Context, c store.Claim, lease time.Duration) error {
	if lease <= 0 {
		return errors.New("redis sent store: lease must be positive")
	}
	n, err := renewScript.Run(ctx, s.c, []string{s.key(c.OrderID), s.storeKey(), s.lostKey()}, "c:"+c.Token, ms(lease), s.expected(), now()).Int()
	if err != nil {
		return outcome(ctx, sentStore, "renew", err)
	}
	logs.ok(ctx)
	if n != 1 {
		return store.ErrClaimLost
	}
	return nil
}

// Ping reports whether the server answers.
func (s *Sent) Ping(ctx context.Context) error { return ping(ctx, s.c) }

// releaseLost releases a claim whose outcome the caller never learned,
// retrying until the server answers or the lease would have ended anyway.
func (s *Sent) releaseLost(key, value string, until time.Time) {
	wait := 100 * time.Millisecond
	for time.Now().Add(wait).Before(until) {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := releaseScript.Run(ctx, s.c, []string{key}, value).Err()
		if errors.Is(err, goredis.ErrClosed) { // the process is ending: nobody else will take the claim from it
			cancel()
			return
		}
		err = outcome(ctx, sentStore, "release of a claim whose outcome was lost", err)
		cancel()
		if err == nil {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// originScript returns the store's identity, when it was recorded, and the
// identity its loss marker (KEYS[2]) names, if any.
var originScript = goredis.NewScript(`
local o = redis.call('HMGET', KEYS[1], 'id', 'created')
o[3] = redis.call('HGET', KEYS[2], 'id')
return o`)

// adoptScript records the identity ARGV[1], created ARGV[2], unless one is
// there, and clears the loss marker (KEYS[2]); with ARGV[3] non-empty (a
// store from before identities) it records nothing while the marker is
// there. It answers as originScript.
var adoptScript = goredis.NewScript(`
if ARGV[3] == '' or redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('HSETNX', KEYS[1], 'id', ARGV[1]) == 1 then redis.call('HSET', KEYS[1], 'created', ARGV[2]) end
  redis.call('DEL', KEYS[2])
end
local o = redis.call('HMGET', KEYS[1], 'id', 'created')
o[3] = redis.call('HGET', KEYS[2], 'id')
return o`)

// parseOrigin reads the answer of originScript or adoptScript.
func parseOrigin(res []any) store.Origin {
	var f [3]string
	for i := range min(len(res), len(f)) {
		f[i], _ = res[i].(string)
	}
	if f[0] == "" {
		return store.Origin{New: true, Lost: f[2] != ""}
	}
	created, _ := time.Parse(time.RFC3339, f[1])
	return store.Origin{ID: f[0], Created: created}
}

// Origin implements store.Identified. A store whose server holds no
// identity is New, and Lost if its loss marker is there (see Sent), or if it
// holds order_ids confirmed with their content but none without: only
// versions that record an identity before their first send write content
// keys, so such a store lost its identity (and the order_ids it held) and
// what it holds was written since. A store that holds an order_id
// confirmed without content, or only claims, was written before identities
// existed: it is adopted.
func (s *Sent) Origin(ctx context.Context) (store.Origin, error) {
	res, err := originScript.Run(ctx, s.c, []string{s.storeKey(), s.lostKey()}).Slice()
	if err != nil {
		return store.Origin{}, outcome(ctx, sentStore, "read the store's identity", err)
	}
	logs.ok(ctx)
	o := parseOrigin(res)
	if !o.New {
		s.id.Store(&o.ID)
		return o, nil
	}
	if o.Lost {
		return o, nil
	}
	found, err := s.findOrders(ctx)
	if err != nil {
		return store.Origin{}, outcome(ctx, sentStore, "look for sent order_ids", err)
	}
	switch found {
	case ordersLegacy, ordersClaimed:
		return s.adopt(ctx, true)
	case ordersContent:
		return store.Origin{New: true, Lost: true}, nil
	}
	return o, nil
}

// What findOrders found under the prefix.
const (
	ordersNone    = iota // no order_id key
	ordersClaimed        // claims only
	ordersContent        // order_ids confirmed, every one with its content key
	ordersLegacy         // an order_id confirmed without a content key
)

// classifyScript looks at pairs of an order_id's key and its content key
// (KEYS): ordersLegacy when one is confirmed ('s') without content,
// ordersContent when one is confirmed with it, else ordersNone.
var classifyScript = goredis.NewScript(`
local r = 0
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i]) == 's' then
    if redis.call('EXISTS', KEYS[i + 1]) == 0 then return 3 end
    r = 2
  end
end
return r`)

// findOrders says what order_id keys the server holds under the prefix,
// scanning them all unless it meets one confirmed without content.
func (s *Sent) findOrders(ctx context.Context) (int, error) {
	orderKeys := s.opts.Prefix + "s:"
	match := globEscape(orderKeys) + "*"
	found := ordersNone
	var cursor uint64
	for {
		keys, next, err := s.c.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return 0, err
		}
		if len(keys) > 0 {
			pairs := make([]string, 0, 2*len(keys))
			for _, k := range keys {
				pairs = append(pairs, k, s.contentKey(strings.TrimPrefix(k, orderKeys)))
			}
			n, err := classifyScript.Run(ctx, s.c, pairs).Int()
			if err != nil {
				return 0, err
			}
			if n == ordersLegacy {
				return n, nil
			}
			found = max(found, n, ordersClaimed)
		}
		if cursor = next; cursor == 0 {
			return found, nil
		}
	}
}

// globEscape escapes the characters SCAN's MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Adopt implements store.Identified. Replicas adopting one new store at
// once agree on one identity. It clears the loss marker.
func (s *Sent) Adopt(ctx context.Context) (store.Origin, error) { return s.adopt(ctx, false) }

// adopt is Adopt; legacy (a store from before identities) leaves a store
// whose loss marker appeared meanwhile New and Lost.
func (s *Sent) adopt(ctx context.Context, legacy bool) (store.Origin, error) {
	flag := ""
	if legacy {
		flag = "legacy"
	}
	now := time.Now().UTC().Truncate(time.Second)
	res, err := adoptScript.Run(ctx, s.c, []string{s.storeKey(), s.lostKey()}, rand.Text(), now.Format(time.RFC3339), flag).Slice()
	if err != nil {
		return store.Origin{}, outcome(ctx, sentStore, "record the store's identity", err)
	}
	logs.ok(ctx)
	o := parseOrigin(res)
	if o.Lost {
		return o, nil
	}
	if o.New {
		return store.Origin{}, &failure.StoreUnavailable{Store: sentStore, Err: errors.New("the store's identity was not recorded")}
	}
	s.id.Store(&o.ID)
	return o, nil
}

var (
	_ store.Sent       = (*Sent)(nil)
	_ store.Identified = (*Sent)(nil)
)
