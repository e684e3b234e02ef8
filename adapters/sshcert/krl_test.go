package sshcert

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/servertest"
)

// sshKeygen returns the path of ssh-keygen, or skips (fails in CI) without it.
func sshKeygen(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ssh-keygen")
	if err != nil {
		servertest.Handle(t, servertest.Unavailable{Msg: "ssh-keygen not found; install openssh-client: apt-get install openssh-client"})
	}
	return p
}

func runKeygen(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sshKeygen(t), args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	return "", -1
}

func TestSSHKeygenReadsTheKRLAsWritten(t *testing.T) {
	f := newFixture(t, nil)
	revoked := f.request(t, "g-keygen-revoked", "alice", time.Hour)
	kept := f.request(t, "g-keygen-kept", "bob", time.Hour)
	revokedLease, err := f.a.Grant(context.Background(), revoked)
	if err != nil {
		t.Fatal(err)
	}
	keptLease, err := f.a.Grant(context.Background(), kept)
	if err != nil {
		t.Fatal(err)
	}
	// More serials than one, from another grant without lease data, to exercise the list.
	if err := f.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-keygen-other"}); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Revoke(context.Background(), revokeOf(revoked, revokedLease)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, line string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	revokedPath := write("revoked-cert.pub", revokedLease.Secret.Value)
	keptPath := write("kept-cert.pub", keptLease.Secret.Value)

	out, code := runKeygen(t, "-Q", "-f", f.a.cfg.RevokedKeys, revokedPath)
	if code != 1 || !strings.Contains(out, "REVOKED") {
		t.Fatalf("ssh-keygen -Q on the revoked certificate: exit %d, %q; want exit 1 and REVOKED", code, out)
	}
	out, code = runKeygen(t, "-Q", "-f", f.a.cfg.RevokedKeys, keptPath)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("ssh-keygen -Q on a certificate not revoked: exit %d, %q; want exit 0 and ok", code, out)
	}

	out, code = runKeygen(t, "-Q", "-l", "-f", f.a.cfg.RevokedKeys)
	if code != 0 {
		t.Fatalf("ssh-keygen -Q -l: exit %d\n%s", code, out)
	}
	want := []string{
		"# CA key " + f.ca.signer.PublicKey().Type() + " " + ssh.FingerprintSHA256(f.ca.signer.PublicKey()),
		fmt.Sprintf("serial: %d", parseCert(t, revokedLease.Secret.Value).Serial),
		fmt.Sprintf("serial: %d", f.a.serial("g-keygen-other")),
		"# KRL version 2",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("ssh-keygen's dump of the KRL lacks %q:\n%s", w, out)
		}
	}
}

func TestSSHKeygenReadsAnEmptyKRL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "krl")
	if err := os.WriteFile(path, encodeKRL(1, time.Now(), nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runKeygen(t, "-Q", "-l", "-f", path); code != 0 || strings.Contains(out, "serial") {
		t.Fatalf("ssh-keygen -Q -l on an empty KRL: exit %d\n%s", code, out)
	}
}

func TestKRLRoundTrips(t *testing.T) {
	cas := []krlCA{
		{caKey: []byte("ca-one"), serials: []uint64{9, 3, 3, 0, 1 << 63}},
		{caKey: []byte("ca-two"), serials: []uint64{7}},
		{caKey: []byte("ca-empty")},
	}
	data := encodeKRL(42, time.Unix(1700000000, 0), cas)
	version, got, err := decodeKRL(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if version != 42 {
		t.Errorf("version %d, want 42", version)
	}
	if len(got) != 2 {
		t.Fatalf("decoded %d CAs, want 2 (one without serials gets no section)", len(got))
	}
	if string(got[0].caKey) != "ca-one" || !slices.Equal(got[0].serials, []uint64{3, 9, 1 << 63}) {
		t.Errorf("first CA %q %v, want ca-one [3 9 %d] (sorted, deduplicated, no 0)", got[0].caKey, got[0].serials, uint64(1<<63))
	}
	if string(got[1].caKey) != "ca-two" || !slices.Equal(got[1].serials, []uint64{7}) {
		t.Errorf("second CA %q %v, want ca-two [7]", got[1].caKey, got[1].serials)
	}
}

func TestDecodeKRLRefusesWhatItDidNotWrite(t *testing.T) {
	good := encodeKRL(1, time.Unix(0, 0), []krlCA{{caKey: []byte("ca"), serials: []uint64{5}}})
	withComment := func(comment string) []byte {
		b := []byte(krlMagic)
		b = binary.BigEndian.AppendUint32(b, krlFormatVersion)
		b = append(b, make([]byte, 24)...)
		b = appendString(b, nil)
		return appendString(b, []byte(comment))
	}
	withSection := func(typ byte, body []byte) []byte {
		b := append(withComment(krlComment), typ)
		return appendString(b, body)
	}
	// Another tool's list is errForeignKRL (the adapter refuses to overwrite it); a damaged one
	// of ours is errShort.
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"no magic", []byte("ssh-ed25519 AAAA"), errForeignKRL},
		{"another format version", append([]byte(krlMagic), 0, 0, 0, 2), errForeignKRL},
		{"someone else's comment", withComment("made by hand"), errForeignKRL},
		{"an explicit-key section", withSection(2, nil), errForeignKRL},
		{"a serial range subsection", withSection(krlSectionCerts, append(appendString(appendString(nil, []byte("ca")), nil), 0x21, 0, 0, 0, 0)), errForeignKRL},
		{"a truncated list", good[:len(good)-3], errShort},
		{"a length past the end", append(withComment(krlComment), 1, 0xff, 0xff, 0xff, 0xff), errShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeKRL(tt.data); !errors.Is(err, tt.want) {
				t.Fatalf("decode: %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzDecodeKRL(f *testing.F) {
	f.Add(encodeKRL(1, time.Unix(0, 0), []krlCA{{caKey: []byte("ca"), serials: []uint64{5, 6}}}))
	// Written by hand, not by encodeKRL, so that an encoder that drops serials cannot also
	// drop them from the seed: unsorted, repeated and zero serials, a CA in two sections, one
	// with a single serial, one whose serials are split over two subsections, an empty CA key.
	f.Add(handKRL(7, []handSection{
		{"ca", [][]uint64{{9, 2, 2, 0, 1<<64 - 1}}},
		{"other", [][]uint64{{3}}},
		{"ca", [][]uint64{{4}, {11, 10}}},
		{"", [][]uint64{{8}}},
		{"zero", [][]uint64{{0}}},
	}))
	f.Add([]byte(krlMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		version, cas, err := decodeKRL(data)
		if err != nil {
			return
		}
		again := encodeKRL(version, time.Unix(0, 0), cas)
		version2, cas2, err := decodeKRL(again)
		if err != nil {
			t.Fatalf("re-encoded KRL does not decode: %v", err)
		}
		if version2 != version {
			t.Fatalf("re-encoding changed the version from %d to %d", version, version2)
		}
		want, got := revokedSet(cas), revokedSet(cas2)
		for k := range want {
			if !got[k] {
				t.Fatalf("re-encoding dropped serial %d of CA %q", k.serial, k.ca)
			}
		}
		for k := range got {
			if !want[k] {
				t.Fatalf("re-encoding added serial %d of CA %q", k.serial, k.ca)
			}
		}
	})
}

// revokedCA is one revoked serial of one CA key.
type revokedCA struct {
	ca     string
	serial uint64
}

// revokedSet is what a KRL revokes: every CA key's serials but 0, whatever the order, the
// repetitions or the sections they were written in.
func revokedSet(cas []krlCA) map[revokedCA]bool {
	out := map[revokedCA]bool{}
	for _, c := range cas {
		for _, s := range c.serials {
			if s != 0 {
				out[revokedCA{string(c.caKey), s}] = true
			}
		}
	}
	return out
}

// handSection is one certificates section of a KRL built by handKRL: a CA key and its serial
// lists, one subsection each.
type handSection struct {
	ca    string
	lists [][]uint64
}

// handKRL builds a KRL byte by byte from PROTOCOL.krl, independently of encodeKRL.
func handKRL(version uint64, sections []handSection) []byte {
	str := func(b, s []byte) []byte { return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...) }
	b := []byte("SSHKRL\n\x00")
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint64(b, 1700000000)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = str(b, nil)
	b = str(b, []byte("accessbot sshcert"))
	for _, sec := range sections {
		body := str(str(nil, []byte(sec.ca)), nil)
		for _, list := range sec.lists {
			var l []byte
			for _, serial := range list {
				l = binary.BigEndian.AppendUint64(l, serial)
			}
			body = str(append(body, 0x20), l)
		}
		b = str(append(b, 1), body)
	}
	return b
}
