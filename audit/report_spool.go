package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool keeps a section's rows: in memory up to spoolInMemory bytes, then in a temporary file.
type spool struct {
	dir  string
	mem  bytes.Buffer
	file *os.File
	fw   *bufio.Writer
	rows int
	err  error
}

// Write appends rows to the section, moving it to a temporary file once it outgrows memory.
// The first error sticks: later writes and copyTo return it.
func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.file == nil {
		if s.mem.Len()+len(p) <= spoolInMemory {
			return s.mem.Write(p)
		}
		f, err := os.CreateTemp(s.dir, "accessbot-report-*")
		if err != nil {
			s.err = fmt.Errorf("spool report section: %w", err)
			return 0, s.err
		}
		s.file, s.fw = f, bufio.NewWriterSize(f, 256<<10)
		if _, err := s.fw.Write(s.mem.Bytes()); err != nil {
			s.err = err
			return 0, err
		}
		s.mem = bytes.Buffer{}
	}
	n, err := s.fw.Write(p)
	if err != nil {
		s.err = fmt.Errorf("spool report section: %w", err)
	}
	return n, err
}

// copyTo writes the section's rows to w, in the order they were written.
func (s *spool) copyTo(w io.Writer) error {
	if s.err != nil {
		return s.err
	}
	if s.file == nil {
		_, err := w.Write(s.mem.Bytes())
		return err
	}
	if err := s.fw.Flush(); err != nil {
		return fmt.Errorf("spool report section: %w", err)
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool report section: %w", err)
	}
	_, err := io.Copy(w, s.file)
	return err
}

// close removes the temporary file, if there is one.
func (s *spool) close() {
	if s.file != nil {
		_ = s.file.Close()
		os.Remove(s.file.Name())
		s.file = nil
	}
}
