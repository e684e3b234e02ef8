package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// File is a file uploaded through the fake, as Slack's external upload takes one:
// files.getUploadURLExternal names it and its length, the upload URL receives the bytes, and
// files.completeUploadExternal shares it in a channel.
type File struct {
	ID       string
	Name     string
	Length   int
	AltText  string
	Title    string
	Channel  string
	Data     []byte
	Uploaded bool
	Shared   bool
}

// Files returns the files uploaded so far, in order, as they stand.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, len(s.files))
	for i, f := range s.files {
		out[i] = *f
		out[i].Data = append([]byte(nil), f.Data...)
	}
	return out
}

func (s *Server) file(id string) *File {
	for _, f := range s.files {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// fileMethod answers files.getUploadURLExternal and files.completeUploadExternal; s.mu is held.
func (s *Server) fileMethod(c Call) (map[string]any, string) {
	switch c.Method {
	case "files.getUploadURLExternal":
		length, err := strconv.Atoi(c.Arg("length"))
		if c.Arg("filename") == "" || err != nil || length <= 0 {
			return nil, "invalid_arguments"
		}
		s.nextID++
		f := &File{ID: fmt.Sprintf("F%07d", s.nextID), Name: c.Arg("filename"), Length: length, AltText: c.Arg("alt_txt")}
		s.files = append(s.files, f)
		return map[string]any{"upload_url": s.URL + "/upload/" + f.ID, "file_id": f.ID}, ""
	default: // files.completeUploadExternal
		var list []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal([]byte(c.Arg("files")), &list); err != nil || len(list) == 0 {
			return nil, "invalid_arguments"
		}
		ch := c.Arg("channel_id")
		if ch == "" {
			ch = c.Arg("channels")
		}
		if strings.HasPrefix(ch, "#") {
			return nil, "invalid_channel"
		}
		var out []map[string]any
		for _, item := range list {
			f := s.file(item.ID)
			if f == nil || !f.Uploaded {
				return nil, "file_not_found"
			}
			f.Title, f.Channel, f.Shared = item.Title, ch, ch != ""
			out = append(out, map[string]any{"id": f.ID, "title": f.Title})
		}
		return map[string]any{"files": out}, ""
	}
}

// serveUpload receives a file's bytes at its upload URL: a multipart form (field "file") or
// the raw body, as Slack accepts both. It answers "OK - <length>" as Slack does, or 400 when
// the length differs from the one announced.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	data, err := readUpload(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Call{Method: "upload", Path: r.URL.Path}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		c.Token = strings.TrimPrefix(auth, "Bearer ")
	}
	f := s.file(id)
	switch {
	case r.Method != http.MethodPost || err != nil:
		c.Error = "invalid_upload"
	case f == nil:
		c.Error = "file_not_found"
	case len(data) != f.Length:
		c.Error = "length_mismatch"
	}
	s.recordLocked(c)
	if c.Error != "" {
		http.Error(w, c.Error, http.StatusBadRequest)
		return
	}
	f.Data, f.Uploaded = data, true
	_, _ = io.WriteString(w, fmt.Sprintf("OK - %d", len(data)))
}

func readUpload(r *http.Request) ([]byte, error) {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return io.ReadAll(io.LimitReader(r.Body, 16<<20))
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return nil, fmt.Errorf("no file part: %w", err)
		}
		if part.FormName() == "file" {
			return io.ReadAll(io.LimitReader(part, 16<<20))
		}
	}
}
