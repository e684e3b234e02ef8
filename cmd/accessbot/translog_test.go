package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An operator makes the signer key, signs a checkpoint and proves an event; an auditor with
// only the verifier key checks the proof with no config and no database, and later checks
// that the log still extends the checkpoint. A changed proof, and an event changed after the
// checkpoint, fail with exit 1.
func TestCheckpointsAndProofsFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir)
	keyFile := filepath.Join(dir, "checkpoint.key")

	code, pub, errOut := runCLI(t, nil, "audit", "keygen", "--origin", "test.example/audit", "--out", keyFile)
	if code != 0 || !strings.HasPrefix(pub, "test.example/audit+") {
		t.Fatalf("keygen: exit %d, stdout %q, stderr %q", code, pub, errOut)
	}
	signer, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pub, strings.TrimSpace(string(signer))) || !strings.HasPrefix(string(signer), "PRIVATE+KEY+test.example/audit+") {
		t.Fatalf("keygen printed the signer key, or wrote something else: %q", signer)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signer key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if code, _, errOut := runCLI(t, nil, "audit", "keygen", "--origin", "test.example/audit", "--out", keyFile); code != 1 || !strings.Contains(errOut, "does not replace a signer key") {
		t.Fatalf("a second keygen on the same file: exit %d, %q", code, errOut)
	}
	pubFile := filepath.Join(dir, "checkpoint.pub")
	if err := os.WriteFile(pubFile, []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}

	// Without a transparency: section there is nothing to sign with.
	seed(t, cfgPath)
	if code, _, errOut := runCLI(t, nil, "audit", "checkpoint", "--config", cfgPath); code != 1 || !strings.Contains(errOut, "no transparency: section") {
		t.Fatalf("checkpoint without a signer: exit %d, %q", code, errOut)
	}
	// The key file is named relative to the config file.
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("transparency: {origin: test.example/audit, key_file: checkpoint.key}\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	code, ck, errOut := runCLI(t, nil, "audit", "checkpoint", "--config", cfgPath)
	if code != 0 || !strings.HasPrefix(ck, "test.example/audit\n") || !strings.Contains(ck, "\n— test.example/audit ") {
		t.Fatalf("checkpoint: exit %d\n%s%s", code, ck, errOut)
	}
	ckFile := filepath.Join(dir, "checkpoint-1.txt")
	if err := os.WriteFile(ckFile, []byte(ck), 0o600); err != nil {
		t.Fatal(err)
	}

	code, proof, errOut := runCLI(t, nil, "audit", "prove", "--seq", "1", "--checkpoint", ckFile, "--config", cfgPath)
	if code != 0 || !strings.Contains(proof, `"leaf_index": 0,`) {
		t.Fatalf("prove: exit %d\n%s%s", code, proof, errOut)
	}
	// A checkpoint that is not this log's, as signed, is refused: proofs lead only to checkpoints
	// the log's own key signed.
	forged := filepath.Join(dir, "forged.txt")
	if err := os.WriteFile(forged, []byte(strings.Replace(ck, "\n", "\n9", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, nil, "audit", "prove", "--seq", "1", "--checkpoint", forged, "--config", cfgPath); code != 1 || !strings.Contains(errOut, forged) {
		t.Fatalf("prove against a changed checkpoint: exit %d, %q", code, errOut)
	}
	proofFile := filepath.Join(dir, "proof.json")
	if err := os.WriteFile(proofFile, []byte(proof), 0o600); err != nil {
		t.Fatal(err)
	}
	// The auditor's check: no config, no database, in another directory.
	t.Chdir(t.TempDir())
	code, out, errOut := runCLI(t, nil, "audit", "check", "--key-file", pubFile, proofFile)
	if code != 0 || !strings.HasPrefix(out, "proof holds: event 1 ") {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	changed := strings.Replace(proof, `"alice@example.com"`, `"mallory@example.com"`, 1)
	if changed == proof {
		t.Fatal("the proof does not name alice")
	}
	if err := os.WriteFile(proofFile, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, nil, "audit", "check", "--key", strings.TrimSpace(pub), proofFile); code != 1 || !strings.Contains(errOut, "proof does NOT hold") {
		t.Fatalf("check of a changed proof: exit %d, %q", code, errOut)
	}

	// More events after the checkpoint; the log extends it, by the key given or the config's.
	grants := listGrantIDs(t, cfgPath)
	if code, _, errOut := runCLI(t, nil, "grants", "revoke", grants[0], "--config", cfgPath); code != 0 {
		t.Fatalf("grants revoke: exit %d, %q", code, errOut)
	}
	for _, args := range [][]string{
		{"audit", "verify", "--since", ckFile, "--key-file", pubFile, "--config", cfgPath},
		{"audit", "verify", "--since", ckFile, "--config", cfgPath},
	} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "audit log extends the checkpoint: ") || strings.Contains(out, " 0 events after it") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}

	// An event after the checkpoint rewritten in the database.
	db, err := sql.Open("sqlite", filepath.Join(dir, "accessbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_events SET actor = 'mallory@example.com' WHERE seq = (SELECT MAX(seq) FROM audit_events)`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, nil, "audit", "verify", "--since", ckFile, "--key-file", pubFile, "--config", cfgPath)
	if code != 1 || !strings.Contains(errOut, "does NOT extend the checkpoint") {
		t.Fatalf("verify --since of a changed log: exit %d\n%s%s", code, out, errOut)
	}
}

// listGrantIDs returns the IDs `grants list` prints, newest first.
func listGrantIDs(t *testing.T, cfgPath string) []string {
	t.Helper()
	code, out, errOut := runCLI(t, nil, "grants", "list", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("grants list: exit %d, %q", code, errOut)
	}
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "g-") {
			ids = append(ids, f[0])
		}
	}
	if len(ids) == 0 {
		t.Fatalf("grants list printed no grant:\n%s", out)
	}
	return ids
}
