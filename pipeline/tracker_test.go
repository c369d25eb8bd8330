package pipeline

import (
	"math/rand"
	"testing"
)

func TestTrackerCommitsOnlyTheContiguousPrefix(t *testing.T) {
	tr := newTracker()
	for o := int64(100); o <= 104; o++ {
		tr.add(o)
	}
	steps := []struct {
		done  int64
		next  int64
		moved bool
	}{
		{101, -1, false}, {103, -1, false}, {100, 102, true}, {104, 102, false}, {102, 105, true},
	}
	for _, s := range steps {
		next, moved := tr.done(s.done)
		if next != s.next || moved != s.moved {
			t.Fatalf("done(%d) = %d %v, want %d %v", s.done, next, moved, s.next, s.moved)
		}
	}
	if tr.pending() != 0 {
		t.Errorf("pending %d, want 0", tr.pending())
	}
}

func TestTrackerHandlesGapsAndUnknownOffsets(t *testing.T) {
	tr := newTracker()
	tr.add(10)
	tr.add(15) // offsets 11-14 compacted away
	tr.add(15) // fetched again: ignored
	if _, moved := tr.done(12); moved {
		t.Fatal("an offset never fetched moved the position")
	}
	tr.done(15)
	if next, _ := tr.done(10); next != 16 {
		t.Fatalf("next = %d, want 16", next)
	}
}

func TestTrackerRandomOrderMatchesModel(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	tr := newTracker()
	const n = 5000
	offsets := make([]int64, 0, n)
	var o int64
	for i := 0; i < n; i++ {
		o += 1 + int64(r.Intn(3))
		offsets = append(offsets, o)
		tr.add(o)
	}
	done := map[int64]bool{}
	for _, i := range r.Perm(n) {
		next, _ := tr.done(offsets[i])
		done[offsets[i]] = true
		want := int64(-1)
		for _, off := range offsets {
			if !done[off] {
				break
			}
			want = off + 1
		}
		if next != want {
			t.Fatalf("after %d done: next %d, want %d", len(done), next, want)
		}
	}
}

// The pipeline's pattern: offsets fetched one by one, most done at once (the
// newest), some done later in any order. The position always matches a model
// that keeps every offset.
func TestTrackerInterleavedMatchesModel(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewSource(seed))
		tr := newTracker()
		var fetched []int64
		done := map[int64]bool{}
		var open []int64 // fetched, not done
		model := func() int64 {
			want := int64(-1)
			for _, off := range fetched {
				if !done[off] {
					break
				}
				want = off + 1
			}
			return want
		}
		var o int64 = 100
		for step := 0; step < 400; step++ {
			var next int64
			switch k := r.Intn(10); {
			case k < 6: // fetched and done inline
				o += 1 + int64(r.Intn(2))
				fetched = append(fetched, o)
				tr.add(o)
				done[o] = true
				next, _ = tr.done(o)
			case k < 8 || len(open) == 0: // fetched, its work in flight
				o += 1 + int64(r.Intn(2))
				fetched = append(fetched, o)
				tr.add(o)
				open = append(open, o)
				next = tr.position()
			default: // work in flight finishes
				i := r.Intn(len(open))
				done[open[i]] = true
				next, _ = tr.done(open[i])
				open = append(open[:i], open[i+1:]...)
			}
			if want := model(); next != want {
				t.Fatalf("seed %d step %d: position %d, want %d", seed, step, next, want)
			}
			if tr.pending() != len(open) {
				t.Fatalf("seed %d step %d: pending %d, want %d", seed, step, tr.pending(), len(open))
			}
		}
	}
}

// A partition whose messages are all settled inline keeps one entry.
func TestTrackerInlineMessagesLeaveNothingBehind(t *testing.T) {
	tr := newTracker()
	tr.add(0) // an order in flight
	for o := int64(1); o <= 100000; o++ {
		tr.add(o)
		tr.done(o)
	}
	if len(tr.entries)-tr.head != 1 {
		t.Fatalf("%d entries kept behind one in flight, want 1", len(tr.entries)-tr.head)
	}
	if next, moved := tr.done(0); next != 100001 || !moved {
		t.Fatalf("done(0) = %d %v, want 100001 true", next, moved)
	}
}
