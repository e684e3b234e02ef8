package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/accessbot/accessbot/audit"
)

// Defaults of FileOptions.
const (
	DefaultMaxSize  = 100 << 20
	DefaultMaxFiles = 5
)

// FileMode is the mode of the files the file sink creates.
const FileMode fs.FileMode = 0o600

// FileOptions configure a file sink.
type FileOptions struct {
	// Path is the file events are appended to.
	Path string
	// MaxSize is the size in bytes past which the file is rotated; default 100 MiB.
	MaxSize int64
	// MaxFiles is how many rotated files (Path.1 the newest, Path.2, ...) are kept; default 5.
	MaxFiles int
}

// File appends each event as one JSON line (as `accessbot audit export --format jsonl`
// writes it) and fsyncs once per batch before acknowledging it. When a batch would take the
// file past MaxSize, the file is renamed Path.1 (Path.1 becomes Path.2, and so on, dropping
// the oldest beyond MaxFiles) and a new one started; a batch may land across the two. New
// files get mode 0600. If the file is moved or removed behind its back (logrotate), the next
// batch reopens Path. A failed write is cut back off the file, so it never holds half a line.
type File struct {
	o FileOptions

	mu   sync.Mutex
	f    *os.File
	size int64
}

// NewFile checks the options and builds the sink. It does not open the file.
func NewFile(o FileOptions) (*File, error) {
	if o.Path == "" {
		return nil, errors.New("file sink: a path is required")
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	return &File{o: o}, nil
}

// String describes the sink.
func (s *File) String() string { return "file " + s.o.Path }

// Close closes the file.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

func (s *File) closeLocked() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Send appends the batch and syncs it to disk.
func (s *File) Send(_ context.Context, events []audit.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, e := range events {
		line, err := marshalEvent(e)
		if err != nil {
			return fmt.Errorf("encode audit event %d: %w", e.Seq, err)
		}
		line = append(line, '\n')
		if s.size > 0 && s.size+int64(buf.Len()+len(line)) > s.o.MaxSize {
			if err := s.write(buf.Bytes()); err != nil {
				return err
			}
			buf.Reset()
			if err := s.rotate(); err != nil {
				return err
			}
		}
		buf.Write(line)
	}
	return s.write(buf.Bytes())
}

// open opens Path for appending unless the open file still is Path.
func (s *File) open() error {
	if s.f != nil {
		fi, err := s.f.Stat()
		pi, perr := os.Stat(s.o.Path)
		if err == nil && perr == nil && os.SameFile(fi, pi) {
			return nil
		}
		_ = s.closeLocked()
	}
	f, err := os.OpenFile(s.o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, FileMode)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	s.f, s.size = f, fi.Size()
	if s.size == 0 {
		// A new file: make its name durable too.
		if d, err := os.Open(filepath.Dir(s.o.Path)); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
	}
	return nil
}

// write appends b and syncs; on failure it truncates the file back to where it was.
func (s *File) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := s.f.Write(b); err != nil {
		s.undo()
		return fmt.Errorf("write %s: %w", s.o.Path, err)
	}
	if err := s.f.Sync(); err != nil {
		s.undo()
		return fmt.Errorf("sync %s: %w", s.o.Path, err)
	}
	s.size += int64(len(b))
	return nil
}

func (s *File) undo() {
	_ = s.f.Truncate(s.size)
	_ = s.closeLocked()
}

// rotate shifts Path.N to Path.N+1, dropping the oldest, moves Path to Path.1 and opens a new
// Path.
func (s *File) rotate() error {
	_ = s.closeLocked()
	name := func(i int) string { return s.o.Path + "." + strconv.Itoa(i) }
	if err := os.Remove(name(s.o.MaxFiles)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate %s: %w", s.o.Path, err)
	}
	for i := s.o.MaxFiles - 1; i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", s.o.Path, err)
		}
	}
	if err := os.Rename(s.o.Path, name(1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate %s: %w", s.o.Path, err)
	}
	return s.open()
}
