package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// ledgerStore is the ledger's name in its errors.
const ledgerStore = "redis ledger"

// Ledger is a store.Ledger in Redis, shared by every replica. For a prefix
// P, an order is the hash "P o:order_id", expiring SentTTL after its last
// delivery or confirmed cancel, with the fields
//
//	l            the lines delivered (encodeLines)
//	c:sku        the units of sku cancelled so far
//	d:cancel_id  1 once the cancel cancel_id is confirmed
//	i:cancel_id  the items about to be sent under cancel_id (JSON), until
//	             confirmed or released: an intent its sender left behind
//
// and the cancel in flight is the key "P oc:order_id", holding the claim's
// token and expiring with the lease. Claim, confirm and release are each one
// script, so they are atomic across replicas. Safe for concurrent use.
type Ledger struct {
	c    goredis.UniversalClient
	opts Options
}

// NewLedger returns the ledger on c. It does not own c.
func NewLedger(c goredis.UniversalClient, opts Options) *Ledger {
	install()
	return &Ledger{c: c, opts: opts.withDefaults()}
}

func (l *Ledger) keys(orderID string) []string {
	return []string{l.opts.Prefix + "o:" + orderID, l.opts.Prefix + "oc:" + orderID}
}

// recordScript sets the lines and renews the entry's TTL.
var recordScript = goredis.NewScript(`
redis.call('HSET', KEYS[1], 'l', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)

// claimCancelScript takes the order's cancel lock for a cancel not done
// yet: {1, intent or false} claimed, {2} the cancel id is done, {3} held.
var claimCancelScript = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {2} end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {1, redis.call('HGET', KEYS[1], ARGV[4])} end
return {3}`)

// intendScript records the items about to be sent and renews the TTL.
var intendScript = goredis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// confirmCancelScript adds the units (pairs of field and units from
// ARGV[5]), drops the intent (ARGV[4]) unless the cancel id is done, marks it done, renews the entry's
// TTL and frees the lock if it is still the caller's.
var confirmCancelScript = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  for i = 5, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('HSET', KEYS[1], ARGV[1], '1')
end
redis.call('HDEL', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1`)

// releaseCancelScript frees the lock, and drops the intent (ARGV[2]), only
// if the lock is still the caller's.
var releaseCancelScript = goredis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[1] then
  if ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[2]) end
  return redis.call('DEL', KEYS[2])
end
return 0`)

// RecordDelivery implements store.Ledger.
func (l *Ledger) RecordDelivery(ctx context.Context, orderID string, lines []mapping.Line) error {
	err := recordScript.Run(ctx, l.c, l.keys(orderID)[:1], encodeLines(lines), ms(l.opts.SentTTL)).Err()
	return outcome(ctx, ledgerStore, "record delivery", err)
}

// Entry implements store.Ledger.
func (l *Ledger) Entry(ctx context.Context, orderID string) (store.Entry, bool, error) {
	fields, err := l.c.HGetAll(ctx, l.keys(orderID)[0]).Result()
	if err != nil {
		return store.Entry{}, false, outcome(ctx, ledgerStore, "entry", err)
	}
	logs.ok(ctx)
	raw, ok := fields["l"]
	if !ok {
		return store.Entry{}, false, nil
	}
	lines, err := decodeLines(raw)
	if err != nil {
		// A field this package did not write: read as an order never
		// delivered, which cancels nothing; the next delivery replaces it.
		return store.Entry{}, false, nil
	}
	if lines == nil {
		return store.Entry{}, false, nil
	}
	e := store.Entry{Lines: lines, Cancelled: map[string]int64{}}
	for f, v := range fields {
		if sku, ok := strings.CutPrefix(f, "c:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return store.Entry{}, false, outcome(ctx, ledgerStore, "entry", fmt.Errorf("units cancelled are not a number: %q", v))
			}
			e.Cancelled[sku] = n
		}
	}
	return e, true, nil
}

// ClaimCancel implements store.Ledger.
func (l *Ledger) ClaimCancel(ctx context.Context, orderID, cancelID string, lease time.Duration) (store.CancelClaim, error) {
	if lease <= 0 {
		return store.CancelClaim{}, errors.New("redis ledger: lease must be positive")
	}
	if err := ctx.Err(); err != nil { // nothing was sent: no lock to release
		return store.CancelClaim{}, outcome(ctx, ledgerStore, "claim cancel", err)
	}
	token := rand.Text()
	keys := l.keys(orderID)
	res, err := claimCancelScript.Run(ctx, l.c, keys, "d:"+cancelID, token, ms(lease), "i:"+cancelID).Slice()
	var n int64
	if err == nil && len(res) > 0 {
		n, _ = res[0].(int64)
	}
	if err != nil {
		// The server may have taken the lock before the connection failed;
		// nobody would release it, and the order's cancels would wait out
		// the lease. Release it once the server answers again.
		go l.releaseLost(keys, token, time.Now().Add(lease))
		return store.CancelClaim{}, outcome(ctx, ledgerStore, "claim cancel", err)
	}
	logs.ok(ctx)
	c := store.CancelClaim{OrderID: orderID, CancelID: cancelID}
	switch n {
	case 1:
		c.Status, c.Token = store.Claimed, token
		if len(res) > 1 {
			if raw, ok := res[1].(string); ok && raw != "" {
				_ = json.Unmarshal([]byte(raw), &c.Pending)
			}
		}
	case 2:
		c.Status = store.AlreadySent
	default:
		c.Status = store.HeldElsewhere
	}
	return c, nil
}

// ConfirmCancel implements store.Ledger: a cancel id confirmed already
// adds nothing.
func (l *Ledger) ConfirmCancel(ctx context.Context, c store.CancelClaim, items []mapping.CancelItem) error {
	args := make([]any, 0, 4+2*len(items))
	args = append(args, "d:"+c.CancelID, lockValue(c.Token), ms(l.opts.SentTTL), "i:"+c.CancelID)
	for _, it := range items {
		args = append(args, "c:"+it.SKU, it.Quantity)
	}
	err := confirmCancelScript.Run(ctx, l.c, l.keys(c.OrderID), args...).Err()
	return outcome(ctx, ledgerStore, "confirm cancel", err)
}

// ReleaseCancel implements store.Ledger.
func (l *Ledger) ReleaseCancel(ctx context.Context, c store.CancelClaim) error {
	err := releaseCancelScript.Run(ctx, l.c, l.keys(c.OrderID), lockValue(c.Token), "i:"+c.CancelID).Err()
	return outcome(ctx, ledgerStore, "release cancel", err)
}

// Intend implements store.Ledger.
func (l *Ledger) Intend(ctx context.Context, c store.CancelClaim, items []mapping.CancelItem) error {
	b, err := json.Marshal(items)
	if err != nil {
		return err
	}
	err = intendScript.Run(ctx, l.c, l.keys(c.OrderID)[:1], "i:"+c.CancelID, string(b), ms(l.opts.SentTTL)).Err()
	return outcome(ctx, ledgerStore, "intend cancel", err)
}

// lockValue is what frees the lock held with token: a claim without a
// token (not Claimed) holds no lock, and its value matches none.
func lockValue(token string) string {
	if token == "" {
		return "\x00none"
	}
	return token
}

// Ping reports whether the server answers.
func (l *Ledger) Ping(ctx context.Context) error { return ping(ctx, l.c) }

// releaseLost releases a lock whose claim's outcome the caller never
// learned, retrying until the server answers or the lease would have ended
// anyway.
func (l *Ledger) releaseLost(keys []string, token string, until time.Time) {
	wait := 100 * time.Millisecond
	for time.Now().Add(wait).Before(until) {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := releaseCancelScript.Run(ctx, l.c, keys, token, "").Err()
		if errors.Is(err, goredis.ErrClosed) { // the process is ending: nobody else will take the lock from it
			cancel()
			return
		}
		err = outcome(ctx, ledgerStore, "release of a cancel lock whose outcome was lost", err)
		cancel()
		if err == nil {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// encodeLines is the l field: 0 for nil lines (as never delivered), or 1
// then each line's sku, quantity and price, strings length-prefixed
// (uvarint) and the quantity a varint.
func encodeLines(lines []mapping.Line) string {
	if lines == nil {
		return "\x00"
	}
	b := []byte{1}
	for _, ln := range lines {
		b = binary.AppendUvarint(b, uint64(len(ln.SKU)))
		b = append(b, ln.SKU...)
		b = binary.AppendVarint(b, ln.Quantity)
		b = binary.AppendUvarint(b, uint64(len(ln.Price)))
		b = append(b, ln.Price...)
	}
	return string(b)
}

var errBadLines = errors.New("lines do not decode")

// decodeLines reads the l field.
func decodeLines(s string) ([]mapping.Line, error) {
	b := []byte(s)
	if len(b) == 0 || b[0] > 1 {
		return nil, errBadLines
	}
	if b[0] == 0 {
		if len(b) != 1 {
			return nil, errBadLines
		}
		return nil, nil
	}
	b = b[1:]
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	lines := []mapping.Line{}
	for len(b) > 0 {
		sku, ok := str()
		if !ok {
			return nil, errBadLines
		}
		q, k := binary.Varint(b)
		if k <= 0 {
			return nil, errBadLines
		}
		b = b[k:]
		price, ok := str()
		if !ok {
			return nil, errBadLines
		}
		lines = append(lines, mapping.Line{SKU: sku, Quantity: q, Price: json.Number(price)})
	}
	return lines, nil
}
