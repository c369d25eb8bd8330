package demo

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/segmentio/kafka-go"
)

var indexes = regexp.MustCompile(`\[\d+\]`)

// DeadLetterReasons reads the dead-letter topic and counts its records by
// reason and first problem.
func DeadLetterReasons(addr, topic string) map[string]int {
	out := map[string]int{}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m, err := rd.FetchMessage(ctx)
		cancel()
		if err != nil {
			return out
		}
		d, err := deadletter.Parse(m)
		if err != nil {
			continue
		}
		key := d.Reason
		if d.Status != 0 {
			// A rejection: Refersion's answer says why.
			key += fmt.Sprintf(": HTTP %d", d.Status)
			if body := oneLine(d.Body, 100); body != "" {
				key += " " + body
			}
		} else if len(d.Problems) > 0 {
			p := d.Problems[0]
			reason, _, _ := strings.Cut(p.Reason, ":")
			reason, _, _ = strings.Cut(reason, " (")
			key += ": " + strings.TrimPrefix(indexes.ReplaceAllString(p.Field, "[]")+" ", " ") + reason
		}
		out[key]++
	}
}

// oneLine is body on one line, spaces collapsed, cut to at most n runes.
func oneLine(body string, n int) string {
	s := strings.Join(strings.Fields(body), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// PrintSummary writes the demo's closing summary.
func PrintSummary(w io.Writer, s pipeline.Snapshot, dl map[string]int, sb sandbox.Stats, elapsed time.Duration) {
	fmt.Fprintf(w, "\nSummary (%.1fs, %.0f events/s)\n", elapsed.Seconds(), float64(s.Events)/elapsed.Seconds())
	fmt.Fprintf(w, "  events            %d in %d messages\n", s.Events, s.Messages)
	fmt.Fprintf(w, "  orders delivered  %d (sandbox accepted %d, duplicates %d)\n", s.Delivered, sb.Accepted, sb.Duplicates)
	fmt.Fprintf(w, "  skipped as sent   %d\n", s.Skipped)
	fmt.Fprintf(w, "  identities        %d identify, %d alias\n", s.Identify, s.Alias)
	fmt.Fprintf(w, "  dropped           %d\n", s.DroppedTotal())
	for _, k := range sortedKeys(s.Dropped) {
		if s.Dropped[k] > 0 {
			fmt.Fprintf(w, "    %-16s %d\n", k, s.Dropped[k])
		}
	}
	if s.CancelEvents > 0 {
		var settled int64
		for _, n := range s.Cancels {
			settled += n
		}
		fmt.Fprintf(w, "  refunds, cancels  %d events: %d settled (sandbox accepted %d cancels)\n", s.CancelEvents, settled, sb.Cancels)
		for _, k := range sortedKeys(s.Cancels) {
			if s.Cancels[k] > 0 {
				fmt.Fprintf(w, "    %-16s %d\n", k, s.Cancels[k])
			}
		}
	}
	if s.Clicks+s.ClicksMalformed > 0 {
		fmt.Fprintf(w, "  affiliate clicks  %d kept, %d malformed; orders credited %d, last click too old %d\n",
			s.Clicks, s.ClicksMalformed, s.Credited, s.ClicksOutsideWindow)
	}
	fmt.Fprintf(w, "  dead-lettered     %d\n", s.DeadLetteredTotal())
	for _, k := range sortedKeys(dl) {
		fmt.Fprintf(w, "    %-6d %s\n", dl[k], k)
	}
	if s.Redone > 0 {
		fmt.Fprintf(w, "  redone after a failed attempt: %d\n", s.Redone)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
