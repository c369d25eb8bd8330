package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/refersion-relay/refersion-relay/mapping"
)

func cmdMap(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("map", "map [flags] < events.ndjson > orders.ndjson", stdout)
	orderEvents := fs.String("order-events", strings.Join(mapping.DefaultOrderEvents, ","), "comma list of track event names that are orders")
	cartSources := fs.String("cart-id-sources", strings.Join(mapping.DefaultCartIDSources, ","), "comma list of properties read for cart_id, first present wins")
	currency := fs.String("default-currency", "", "ISO 4217 code used when properties.currency is absent (default: such orders are invalid)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := mapping.New(mapping.Options{
		OrderEvents:     splitList(*orderEvents),
		CartIDSources:   splitList(*cartSources),
		DefaultCurrency: *currency,
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	sum, err := mapStream(ctx, stdin, stdout, m, mapping.NewMemoryIdentities())
	b, _ := json.Marshal(sum)
	fmt.Fprintln(stderr, string(b))
	return err
}

// splitList splits a comma list, trimming spaces and dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// mapSummary counts what map saw, by outcome.
type mapSummary struct {
	Lines           int            `json:"lines"`
	Events          int            `json:"events"`
	Orders          int            `json:"orders"`
	Invalid         int            `json:"invalid"`
	Identify        int            `json:"identify"`
	Alias           int            `json:"alias"`
	Delete          int            `json:"delete"`
	IdentityInvalid int            `json:"identity_invalid"`
	Malformed       int            `json:"malformed"`
	Dropped         map[string]int `json:"dropped"`
}

// invalidLine is the "invalid" object map writes.
type invalidLine struct {
	Line int `json:"line"`
	*mapping.InvalidError
}

// maxLine bounds one input line; a longer line is reported invalid and skipped.
const maxLine = 16 << 20

// mapStream maps r to w, one output line per order event or malformed line, in
// input order. It fails only when reading or writing fails.
func mapStream(ctx context.Context, r io.Reader, w io.Writer, m *mapping.Mapper, ids mapping.IdentityStore) (mapSummary, error) {
	sum := mapSummary{Dropped: map[string]int{}}
	br := bufio.NewReaderSize(r, 1<<20)
	bw := bufio.NewWriterSize(w, 1<<20)
	var werr error
	emit := func(key string, v any) {
		if werr != nil {
			return
		}
		b, err := json.Marshal(map[string]any{key: v})
		if err == nil {
			b = append(b, '\n')
			_, err = bw.Write(b)
		}
		werr = err
	}
	invalid := func(line int, ie *mapping.InvalidError) {
		sum.Invalid++
		emit("invalid", invalidLine{Line: line, InvalidError: ie})
	}
	for werr == nil {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		line, tooLong, err := readLine(br)
		if len(line) > 0 || tooLong {
			sum.Lines++
		}
		n := sum.Lines
		switch {
		case tooLong:
			sum.Malformed++
			invalid(n, &mapping.InvalidError{Problems: []mapping.Problem{{Reason: fmt.Sprintf("line is longer than %d bytes", maxLine)}}})
		case len(line) > 0:
			m.Split(line, func(_ int, ev []byte, c mapping.Class) bool {
				sum.Events++
				mapEvent(ctx, m, ids, ev, c, &sum, func(ie *mapping.InvalidError) { invalid(n, ie) }, emit)
				return werr == nil
			})
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("reading input: %w", err)
		}
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		return sum, fmt.Errorf("writing output: %w", werr)
	}
	return sum, nil
}

func mapEvent(ctx context.Context, m *mapping.Mapper, ids mapping.IdentityStore, ev []byte, c mapping.Class,
	sum *mapSummary, invalid func(*mapping.InvalidError), emit func(string, any)) {
	switch c.Kind {
	case mapping.KindDropped:
		sum.Dropped[c.Drop.String()]++
	case mapping.KindMalformed:
		sum.Malformed++
		invalid(&mapping.InvalidError{Problems: []mapping.Problem{{Reason: c.Problem}}})
	case mapping.KindOrder:
		o, err := m.Map(ev)
		var ie *mapping.InvalidError
		if errors.As(err, &ie) {
			invalid(ie)
			return
		}
		_ = mapping.Enrich(ctx, &o, ids) // the memory store never fails
		sum.Orders++
		emit("order", o)
	default:
		u, err := mapping.ParseIdentity(ev, c.Kind)
		if err != nil {
			sum.IdentityInvalid++
			return
		}
		_ = mapping.Apply(ctx, ids, u)
		switch c.Kind {
		case mapping.KindIdentify:
			sum.Identify++
		case mapping.KindAlias:
			sum.Alias++
		case mapping.KindDelete:
			sum.Delete++
		}
	}
}

// readLine returns the next line without its newline. tooLong reports a line
// over maxLine, which is consumed and not returned.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine {
			tooLong, line = true, nil
		} else if !tooLong {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = trimEOL(line)
		return line, tooLong, err
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
