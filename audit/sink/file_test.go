package sink_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/internal/clock"
)

func newFileSink(t *testing.T, o sink.FileOptions) *sink.File {
	t.Helper()
	s, err := sink.NewFile(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readLines reads the events of one JSON Lines file, checking each line and the file's mode.
func readLines(t *testing.T, path string) []audit.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	var out []audit.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: line %d is not an event: %q", path, len(out)+1, sc.Text())
		}
		checkEvent(t, e)
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readRotated reads path.N down to path.1, then path: the events in the order written.
func readRotated(t *testing.T, path string, maxFiles int) (all []audit.Event, files int) {
	t.Helper()
	for i := maxFiles + 1; i >= 0; i-- {
		name := path
		if i > 0 {
			name = path + "." + strconv.Itoa(i)
		}
		if _, err := os.Stat(name); err != nil {
			continue
		}
		if i > maxFiles {
			t.Errorf("%s exists: more than max_files %d rotated files kept", name, maxFiles)
		}
		files++
		all = append(all, readLines(t, name)...)
	}
	return all, files
}

func TestFileAppendsJSONLinesWithMode0600(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 5)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s := newFileSink(t, sink.FileOptions{Path: path})
	if err := s.Send(testCtx(t), events[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(testCtx(t), events[2:]); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, path)
	if len(got) != 5 || got[0].Seq != 1 || got[4].Seq != 5 || got[4].Hash != events[4].Hash {
		t.Fatalf("file holds %+v", got)
	}
}

func TestFileRotatesBySizeAndKeepsMaxFiles(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 120)
	one, _ := json.Marshal(events[0])
	maxSize := int64(10 * (len(one) + 1)) // about ten events a file
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	const maxFiles = 3
	s := newFileSink(t, sink.FileOptions{Path: path, MaxSize: maxSize, MaxFiles: maxFiles})
	for i := 0; i < len(events); i += 7 {
		if err := s.Send(testCtx(t), events[i:min(i+7, len(events))]); err != nil {
			t.Fatal(err)
		}
	}
	all, files := readRotated(t, path, maxFiles)
	if files != maxFiles+1 {
		t.Errorf("%d files, want the current one and %d rotated", files, maxFiles)
	}
	// The files hold the newest events, contiguous, ending with the last.
	if len(all) == 0 || all[len(all)-1].Seq != 120 {
		t.Fatalf("kept %d events, last %+v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq != all[i-1].Seq+1 {
			t.Fatalf("kept files skip from %d to %d", all[i-1].Seq, all[i].Seq)
		}
	}
	if len(all) >= 120 || len(all) < 30 {
		t.Errorf("kept %d events over %d files of ~10: rotation dropped too little or too much", len(all), files)
	}
	for i := 0; i <= maxFiles; i++ {
		name := path
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		if fi, err := os.Stat(name); err != nil {
			t.Error(err)
		} else if fi.Size() > maxSize {
			t.Errorf("%s: %d bytes, over max_size %d", name, fi.Size(), maxSize)
		}
	}
}

// A file moved away (logrotate's default) or deleted is not written to any more: the next
// batch starts a new file at the path.
func TestFileReopensAMovedFile(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 4)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	s := newFileSink(t, sink.FileOptions{Path: path})
	if err := s.Send(testCtx(t), events[:2]); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(testCtx(t), events[2:]); err != nil {
		t.Fatal(err)
	}
	if old, cur := readLines(t, path+".old"), readLines(t, path); len(old) != 2 || len(cur) != 2 || cur[0].Seq != 3 {
		t.Errorf("moved file %d events, new file %+v", len(old), cur)
	}
}

// The directory disappears (an unmounted volume) while events are appended, then comes back:
// the file ends up with every event, once, in order.
func TestFileSinkCatchesUpAfterAnOutage(t *testing.T) {
	db := newStore(t)
	dir := filepath.Join(t.TempDir(), "siem")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit.jsonl")
	s := newFileSink(t, sink.FileOptions{Path: path, MaxSize: 4096, MaxFiles: 100})
	catchUp(t, db, clock.NewFake(t0), s, outage{
		down: func() {
			if err := os.Rename(dir, dir+".away"); err != nil {
				t.Fatal(err)
			}
		},
		up: func() {
			if err := os.Rename(dir+".away", dir); err != nil {
				t.Fatal(err)
			}
		},
		received: func() []delivered {
			all, files := readRotated(t, path, 100)
			if files < 2 {
				t.Errorf("%d file(s): the test meant to rotate", files)
			}
			out := make([]delivered, len(all))
			for i, e := range all {
				out[i] = delivered{seq: e.Seq, acked: true}
			}
			return out
		},
	})
}
