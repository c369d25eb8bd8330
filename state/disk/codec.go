package disk

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// maxRawKey is the longest id kept as it is in a key; a longer one is
// replaced by its SHA-256, so that any id fits bbolt's key size limit.
const maxRawKey = 256

// key is the bucket key of an id (or order_id): 0x00 and the id itself, or
// 0x01 and the id's SHA-256 when it is long. The forms cannot collide.
func key(id string) []byte {
	if len(id) <= maxRawKey {
		return append([]byte{0}, id...)
	}
	sum := sha256.Sum256([]byte(id))
	return append([]byte{1}, sum[:]...)
}

// backKey is the key of the reverse link from → to in the back bucket: to's
// key, prefixed with its length so that a prefix scan finds only its links.
func backKey(to, from []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(to)))
	b = append(b, to...)
	return append(b, from...)
}

// backPrefix is the prefix of every back key of links to to.
func backPrefix(to []byte) []byte { return backKey(to, nil) }

// Every value starts with its expiry, in Unix nanoseconds, big-endian.
func putExpiry(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
}

var errCorrupt = errors.New("corrupt record")

// expiry returns the expiry of value v and the rest of it.
func expiry(v []byte) (time.Time, []byte, error) {
	if len(v) < 8 {
		return time.Time{}, nil, errCorrupt
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), v[8:], nil
}

// live reports whether value v has not expired at now.
func live(v []byte, now time.Time) bool {
	exp, _, err := expiry(v)
	return err == nil && now.Before(exp)
}

// encodeSent is a sent order_id's record: its expiry, then, when either is
// given, the fingerprint and summary of its content, each length-prefixed.
// Records written before contents were kept are the expiry alone; readers
// of the expiry alone (live, the sweep) read either form.
func encodeSent(expires time.Time, fingerprint, summary string) []byte {
	b := putExpiry(make([]byte, 0, 8+2+len(fingerprint)+len(summary)), expires)
	if fingerprint == "" && summary == "" {
		return b
	}
	for _, f := range [...]string{fingerprint, summary} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeSent returns the content a sent order_id's record holds; a record
// of the expiry alone, or one whose content does not read, holds none.
func decodeSent(v []byte) (fingerprint, summary string) {
	_, rest, err := expiry(v)
	if err != nil || len(rest) == 0 {
		return "", ""
	}
	var f [2]string
	for i := range f {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return "", ""
		}
		f[i], rest = string(rest[k:k+int(n)]), rest[k+int(n):]
	}
	return f[0], f[1]
}

// encodeTraits is the traits record: expiry, then each field length-prefixed.
func encodeTraits(t mapping.Traits, expires time.Time) []byte {
	b := putExpiry(make([]byte, 0, 8+3+len(t.Email)+len(t.FirstName)+len(t.LastName)), expires)
	for _, f := range [...]string{t.Email, t.FirstName, t.LastName} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	if !t.Click.IsZero() { // optional trailing fields: records without them read as no click
		b = binary.AppendUvarint(b, uint64(len(t.Click.AffiliateID)))
		b = append(b, t.Click.AffiliateID...)
		b = binary.AppendVarint(b, t.Click.At)
	}
	return b
}

// decodeTraits reads a traits record; expired or corrupt records read as
// nothing (a corrupt one is overwritten by the next Merge).
func decodeTraits(v []byte, now time.Time) mapping.Traits {
	exp, rest, err := expiry(v)
	if err != nil || !now.Before(exp) {
		return mapping.Traits{}
	}
	var f [3]string
	for i := range f {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return mapping.Traits{}
		}
		f[i], rest = string(rest[k:k+int(n)]), rest[k+int(n):]
	}
	t := mapping.Traits{Email: f[0], FirstName: f[1], LastName: f[2]}
	if n, k := binary.Uvarint(rest); k > 0 && uint64(len(rest)-k) >= n {
		id := string(rest[k : k+int(n)])
		if at, j := binary.Varint(rest[k+int(n):]); j > 0 {
			t.Click = mapping.Click{AffiliateID: id, At: at}
		}
	}
	return t
}

// linkTarget returns the key a links record points to, if it is live.
func linkTarget(v []byte, now time.Time) ([]byte, bool) {
	exp, to, err := expiry(v)
	if err != nil || !now.Before(exp) || len(to) == 0 {
		return nil, false
	}
	return to, true
}

// target returns the key a links record points to, live or not.
func target(v []byte) []byte {
	if _, to, err := expiry(v); err == nil {
		return bytes.Clone(to)
	}
	return nil
}

// encodeTime and decodeTime are a time as Unix nanoseconds, big-endian.
func encodeTime(t time.Time) []byte { return putExpiry(nil, t) }

func decodeTime(b []byte) time.Time {
	if len(b) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
}
