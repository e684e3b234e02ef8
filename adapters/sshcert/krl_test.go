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
	tests := []struct {
		name string
		data []byte
	}{
		{"no magic", []byte("ssh-ed25519 AAAA")},
		{"another format version", append([]byte(krlMagic), 0, 0, 0, 2)},
		{"someone else's comment", withComment("made by hand")},
		{"an explicit-key section", withSection(2, nil)},
		{"a serial range subsection", withSection(krlSectionCerts, append(appendString(appendString(nil, []byte("ca")), nil), 0x21, 0, 0, 0, 0))},
		{"a truncated list", good[:len(good)-3]},
		{"a length past the end", append(withComment(krlComment), 1, 0xff, 0xff, 0xff, 0xff)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeKRL(tt.data); err == nil {
				t.Fatal("decode accepted it")
			}
		})
	}
}

func FuzzDecodeKRL(f *testing.F) {
	f.Add(encodeKRL(1, time.Unix(0, 0), []krlCA{{caKey: []byte("ca"), serials: []uint64{5, 6}}}))
	f.Add([]byte(krlMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		version, cas, err := decodeKRL(data)
		if err != nil {
			return
		}
		// What decodes, encodes back to a list with the same serials.
		again := encodeKRL(version, time.Unix(0, 0), cas)
		_, cas2, err := decodeKRL(again)
		if err != nil {
			t.Fatalf("re-encoded KRL does not decode: %v", err)
		}
		count := func(cs []krlCA) (n int) {
			for _, c := range cs {
				for _, s := range c.serials {
					if s != 0 {
						n++
					}
				}
			}
			return n
		}
		if count(cas2) > count(cas) {
			t.Fatalf("re-encoding added serials")
		}
	})
}
