package sshcert

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/accessbot/accessbot/adapters"
)

// stateFormat is the version of the state file's layout.
const stateFormat = 1

// lockPoll is how often a busy lock file is tried again.
const lockPoll = 5 * time.Millisecond

// revocationList is the KRL at path, its state file and its lock file.
type revocationList struct {
	path      string
	statePath string
	lockPath  string
	// mu serialises this process's writers; the lock file serialises processes.
	mu sync.Mutex
}

func newRevocationList(path string) *revocationList {
	return &revocationList{path: path, statePath: path + ".state", lockPath: path + ".lock"}
}

// listState is the state file: every serial the KRL lists, with what is needed to drop it.
type listState struct {
	Format     int           `json:"format"`
	KRLVersion uint64        `json:"krl_version"`
	Revoked    []revokedCert `json:"revoked"`
}

// revokedCert is one revoked certificate.
type revokedCert struct {
	// CA is the signing CA's public key in SSH wire format, base64: a KRL lists serials per CA,
	// and the list can outlive a CA rotation or serve several resources.
	CA     string `json:"ca"`
	Serial uint64 `json:"serial,string"`
	// Expires is the certificate's valid_before; after it the entry is dropped.
	Expires time.Time `json:"expires"`
	GrantID string    `json:"grant_id,omitempty"`
}

// add lists a certificate as revoked and rewrites the KRL, dropping certificates expired at
// now. unknownExpiry is the expiry given to serials read back from a KRL whose state file was
// lost. Adding a listed certificate again rewrites the same list.
func (l *revocationList) add(ctx context.Context, c revokedCert, now, unknownExpiry time.Time) error {
	return l.update(ctx, now, unknownExpiry, func(st *listState) {
		for i, e := range st.Revoked {
			if e.CA == c.CA && e.Serial == c.Serial {
				if c.Expires.After(e.Expires) {
					st.Revoked[i].Expires = c.Expires
				}
				return
			}
		}
		st.Revoked = append(st.Revoked, c)
	})
}

// ensure writes the KRL when it does not exist yet: sshd refuses every key while RevokedKeys
// names a file it cannot read.
func (l *revocationList) ensure(ctx context.Context, now, unknownExpiry time.Time) error {
	if _, err := os.Stat(l.path); err == nil {
		return nil
	}
	return l.update(ctx, now, unknownExpiry, func(*listState) {})
}

// update changes the state under the locks, prunes it, and writes the state file, then the KRL.
// The state goes first: if the KRL write fails, the next update writes it from the state.
func (l *revocationList) update(ctx context.Context, now, unknownExpiry time.Time, change func(*listState)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	unlock, err := lockFile(ctx, l.lockPath)
	if err != nil {
		return err
	}
	defer unlock()

	st, err := l.load(unknownExpiry)
	if err != nil {
		return err
	}
	change(&st)
	st.Revoked = slices.DeleteFunc(st.Revoked, func(e revokedCert) bool { return !e.Expires.After(now) })
	slices.SortFunc(st.Revoked, func(a, b revokedCert) int {
		if a.CA != b.CA {
			if a.CA < b.CA {
				return -1
			}
			return 1
		}
		switch {
		case a.Serial < b.Serial:
			return -1
		case a.Serial > b.Serial:
			return 1
		}
		return 0
	})
	st.Format = stateFormat
	st.KRLVersion++

	stateJSON, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := writeAtomic(l.statePath, append(stateJSON, '\n'), 0o600); err != nil {
		return fmt.Errorf("write state file: %w", fileError(err))
	}
	krl, err := st.krl(now)
	if err != nil {
		return err
	}
	if err := writeAtomic(l.path, krl, 0o644); err != nil {
		return fmt.Errorf("write revocation list: %w", fileError(err))
	}
	return nil
}

// krl encodes the state as a KRL.
func (st listState) krl(now time.Time) ([]byte, error) {
	var cas []krlCA
	index := map[string]int{}
	for _, e := range st.Revoked {
		i, ok := index[e.CA]
		if !ok {
			blob, err := base64.StdEncoding.DecodeString(e.CA)
			if err != nil {
				return nil, adapters.Permanentf("state file: serial %d has an unreadable CA key", e.Serial)
			}
			i = len(cas)
			index[e.CA] = i
			cas = append(cas, krlCA{caKey: blob})
		}
		cas[i].serials = append(cas[i].serials, e.Serial)
	}
	return encodeKRL(st.KRLVersion, now, cas), nil
}

// load reads the state file. Without one it starts from the KRL: empty when the KRL is missing
// or empty, read back when accessbot wrote it (the state was lost; its serials then get
// unknownExpiry), and refused otherwise, so a list someone else keeps is never overwritten.
func (l *revocationList) load(unknownExpiry time.Time) (listState, error) {
	data, err := os.ReadFile(l.statePath)
	if err == nil {
		var st listState
		if err := json.Unmarshal(data, &st); err != nil {
			return listState{}, adapters.Permanentf("state file %s is not valid JSON (%v); restore it, or remove it together with %s", l.statePath, err, l.path)
		}
		if st.Format != stateFormat {
			return listState{}, adapters.Permanentf("state file %s has format %d, this accessbot reads %d", l.statePath, st.Format, stateFormat)
		}
		return st, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return listState{}, fmt.Errorf("read state file: %w", fileError(err))
	}
	krl, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(bytes.TrimSpace(krl)) == 0) {
		return listState{}, nil
	}
	if err != nil {
		return listState{}, fmt.Errorf("read revocation list: %w", fileError(err))
	}
	version, cas, err := decodeKRL(krl)
	if err != nil {
		return listState{}, adapters.Permanentf("revoked_keys %s holds a revocation list accessbot did not write (%v) and %s is missing; give accessbot a file of its own", l.path, err, l.statePath)
	}
	st := listState{Format: stateFormat, KRLVersion: version}
	for _, ca := range cas {
		for _, s := range ca.serials {
			st.Revoked = append(st.Revoked, revokedCert{CA: base64.StdEncoding.EncodeToString(ca.caKey), Serial: s, Expires: unknownExpiry})
		}
	}
	return st, nil
}

// lockFile takes an exclusive flock on path, waiting until ctx ends.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", fileError(err))
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, adapters.RetryableError(fmt.Errorf("wait for lock %s: %w", path, ctx.Err()))
		case <-t.C:
		}
	}
}

// writeAtomic replaces path with data: sshd, reading the KRL at every login, sees the old list
// or the new one, never half of one, and a crash leaves one of the two on disk.
func writeAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		if err = f.Chmod(perm); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename itself must survive a crash too.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// fileError marks errors an operator must fix (permissions, a read-only file system, a full
// disk) as permanent; the scheduler still retries revocations, slowly, and raises an alert.
func fileError(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.ENOSPC) ||
		errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, fs.ErrNotExist) {
		return adapters.PermanentError(err)
	}
	return err
}
