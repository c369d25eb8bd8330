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
