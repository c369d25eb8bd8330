package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/replay"
)

// ReplayRequest is the body of POST /api/replay.
type ReplayRequest struct {
	Records []string `json:"records"` // RecordIDs, "PARTITION-OFFSET"
	DryRun  bool     `json:"dry_run"`
}

// ReplayResponse is its answer.
type ReplayResponse struct {
	DryRun  bool              `json:"dry_run"`
	Summary replay.Summary    `json:"summary"`
	Text    string            `json:"text"`            // the summary in one line
	Lines   []json.RawMessage `json:"lines,omitempty"` // a dry run's lines: send, skip, invalid, cancel (masked)
	Error   string            `json:"error,omitempty"`
}

// maxDryRunLines bounds the lines a dry run answers with.
const maxDryRunLines = 200

// serveReplay replays selected dead letters: a dry run first (dry_run true),
// then the same selection for real within dryRunValid. It needs the admin
// token; one replay runs at a time.
func (c *Console) serveReplay(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="refersion-relay console"`)
		}
		writeJSON(w, status, ReplayResponse{Error: msg})
	}
	switch {
	case c.o.Token == "":
		fail(http.StatusForbidden, "read-only console: ADMIN_TOKEN is not set on this relay")
		return
	case c.o.Replay == nil || c.o.DeadLetters == nil:
		fail(http.StatusForbidden, "this relay cannot replay from the console")
		return
	case !c.authorized(r):
		fail(http.StatusUnauthorized, "unauthorized: give the relay's ADMIN_TOKEN")
		return
	}
	var req ReplayRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		fail(http.StatusBadRequest, "the body must be JSON: {\"records\": [\"PARTITION-OFFSET\", ...], \"dry_run\": true}")
		return
	}
	var ids []RecordID
	for _, s := range req.Records {
		id, err := ParseRecordID(s)
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 || len(ids) > maxSelection {
		fail(http.StatusBadRequest, fmt.Sprintf("select between 1 and %d dead letters", maxSelection))
		return
	}
	slices.SortFunc(ids, func(a, b RecordID) int {
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return int(a.Offset - b.Offset)
	})
	key := selectionKey(ids)
	if !req.DryRun && !c.dryRun(key) {
		fail(http.StatusConflict, "dry-run this selection first: a replay sends exactly what its dry run showed")
		return
	}
	if !c.replayMu.TryLock() {
		fail(http.StatusConflict, "a replay is running; try again when it has finished")
		return
	}
	defer c.replayMu.Unlock()
	// A replay runs to its end even if the page goes away: cutting
	// deliveries short helps nobody.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Minute)
	defer cancel()
	dls, err := c.o.DeadLetters.Get(ctx, ids)
	if err != nil {
		fail(http.StatusBadGateway, err.Error())
		return
	}
	records := make([]replay.Record, len(dls))
	orderIDs := map[string]bool{}
	for i := range dls {
		records[i] = replay.Record{Event: dls[i].Record.Value, DeadLetter: &dls[i].Record, Time: dls[i].Time}
		orderIDs[dls[i].Record.OrderID] = true
	}
	var out bytes.Buffer
	began := time.Now()
	sum, err := c.o.Replay(ctx, records, req.DryRun, &out)
	took := time.Since(began)
	resp := ReplayResponse{DryRun: req.DryRun, Summary: sum, Text: summaryText(sum, req.DryRun)}
	if err != nil {
		resp.Error = err.Error()
	}
	m := c.o.Journal.Masker()
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() && len(resp.Lines) < maxDryRunLines {
		resp.Lines = append(resp.Lines, json.RawMessage(m.JSON(sc.Bytes())))
	}
	c.mu.Lock()
	if req.DryRun && err == nil {
		c.dryRuns[key] = time.Now()
	} else if !req.DryRun {
		delete(c.dryRuns, key)
	}
	c.mu.Unlock()
	if !req.DryRun {
		e := journal.Entry{Outcome: "replayed", LatencyMS: float64(took.Microseconds()) / 1000,
			Reason: fmt.Sprintf("console replay of %d dead letter%s: %s", len(ids), plural(len(ids)), resp.Text)}
		if len(orderIDs) == 1 {
			for id := range orderIDs {
				e.OrderID = id
			}
		}
		c.o.Journal.Add(e)
		c.o.Logger.Info("dead letters replayed from the console", "records", len(ids), "summary", resp.Text, "remote", r.RemoteAddr, "error", resp.Error)
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadGateway
	}
	writeJSON(w, status, resp)
}

// dryRun reports whether the selection was dry-run within dryRunValid.
func (c *Console) dryRun(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, at := range c.dryRuns { // forget the stale ones
		if time.Since(at) > dryRunValid {
			delete(c.dryRuns, k)
		}
	}
	_, ok := c.dryRuns[key]
	return ok
}

func selectionKey(ids []RecordID) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id.String())
		b.WriteByte(',')
	}
	return b.String()
}

// summaryText is a replay's summary in one line, as replay prints it.
func summaryText(s replay.Summary, dryRun bool) string {
	if dryRun {
		return fmt.Sprintf("would send %d, skipped as already sent %d, repeated %d, still invalid %d; identity changes %d, dropped %d",
			s.Delivered, s.Skipped, s.Repeated, s.StillInvalid, s.Identities, s.Ignored)
	}
	return fmt.Sprintf("delivered %d, skipped as already sent %d, repeated %d, still invalid %d, failed again %d (back on the dead-letter topic: %d); identity changes %d, dropped %d",
		s.Delivered, s.Skipped, s.Repeated, s.StillInvalid, s.FailedAgain, s.Requeued, s.Identities, s.Ignored)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
