package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/accessbot/accessbot/audit/translog"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/internal/clock"
)

// The transparency log's commands: a checkpoint signer key, signed checkpoints, inclusion
// proofs, and their checks (docs/transparency.md). An auditor's commands, check and
// verify --since, need only the public verifier key; check needs no config and no database.

// translogSections are what the commands that sign or prove need: the log and the signer.
var translogSections = []config.Section{config.SectionStorage, config.SectionLog, config.SectionTransparency}

func auditKeygenCommand(e *env) *cobra.Command {
	var origin, out string
	cmd := &cobra.Command{
		Use:   "keygen --origin NAME --out FILE",
		Short: "Make the key pair that signs the audit log's checkpoints",
		Long: `Keygen makes an Ed25519 key pair for signing checkpoints of the audit log. The signer
(private) key is written to --out, readable by its owner only, and never printed; point
transparency.key_file at it (or put it in a secret for transparency.key). The verifier
(public) key is printed: give it to auditors and witnesses, who check checkpoints and proofs
with it. The origin names the log in every checkpoint; it must match transparency.origin.`,
		Example: `  accessbot audit keygen --origin accessbot.example.com/audit --out /etc/accessbot/checkpoint.key > checkpoint.pub`,
		Args:    noArgs(""),
		RunE: func(*cobra.Command, []string) error {
			if origin == "" {
				return usageErr("--origin is required: the log's name, such as accessbot.example.com/audit")
			}
			if out == "" {
				return usageErr("--out is required: the file the signer key is written to")
			}
			if !translog.ValidOrigin(origin) {
				return usageErr("--origin %q is not a valid log name (no spaces or '+')", origin)
			}
			signer, verifier, err := translog.GenerateKey(origin)
			if err != nil {
				return err
			}
			// O_EXCL: a second keygen must not replace the key earlier checkpoints were signed with.
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				if errors.Is(err, os.ErrExist) {
					return &exitError{code: 1, msg: fmt.Sprintf("%s exists: keygen does not replace a signer key (checkpoints signed with it would no longer match)", out)}
				}
				return fmt.Errorf("write the signer key: %w", err)
			}
			if _, err := io.WriteString(f, signer+"\n"); err != nil {
				_ = f.Close()
				return fmt.Errorf("write the signer key: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("write the signer key: %w", err)
			}
			fmt.Fprintln(e.stdout, verifier)
			return nil
		},
	}
	cmd.Flags().StringVar(&origin, "origin", "", "the log's name, carried by every checkpoint (transparency.origin)")
	cmd.Flags().StringVar(&out, "out", "", "file to write the signer key to (created, mode 0600; never overwritten)")
	return cmd
}

// openLog loads the config's log and signer: for checkpoint and prove.
func openLog(e *env, path string) (*translog.Log, func(), error) {
	cfg, err := loadConfigFor(path, translogSections...)
	if err != nil {
		return nil, nil, err
	}
	if !cfg.Transparency.Enabled() {
		return nil, nil, &exitError{code: 1, msg: fmt.Sprintf("no transparency: section in %s: add one with the signer key that accessbot audit keygen makes", cfg.File())}
	}
	key, err := cfg.Transparency.SignerKey()
	if err != nil {
		return nil, nil, err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return nil, nil, err
	}
	db, err := openExistingStore(e, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	l, err := translog.NewLog(db, key, clock.Real{})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return l, func() { db.Close() }, nil
}

func auditCheckpointCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "checkpoint",
		Short: "Sign and print a checkpoint of the audit log as it is now",
		Long: `Checkpoint signs the audit log's Merkle tree as it is now (its size, its root hash and the
time) with the transparency signer key, and prints the signed note. Keep it somewhere the
operators of this database cannot change (a witness, a ticket, an auditor's mailbox): later,
accessbot audit verify --since FILE proves the log still extends it, and any rewritten,
truncated or forked history fails.`,
		Example: `  accessbot audit checkpoint --config /etc/accessbot/accessbot.yaml > checkpoint-2026-12-04.txt`,
		Args:    noArgs(""),
	}
	path := e.configFlag(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		l, closeDB, err := openLog(e, *path)
		if err != nil {
			return err
		}
		defer closeDB()
		ck, err := l.Checkpoint(e.ctx)
		if err != nil {
			return err
		}
		_, err = io.WriteString(e.stdout, ck.Note)
		return err
	}
	return cmd
}

func auditProveCommand(e *env) *cobra.Command {
	var seq int64
	var checkpointFile string
	cmd := &cobra.Command{
		Use:   "prove --seq N",
		Short: "Print an event with the proof that it is in the log",
		Long: `Prove prints one event of the audit log as JSON with its RFC 6962 inclusion proof against a
signed checkpoint: the latest (signed now) or the one in --checkpoint. Anyone with the verifier
key checks it offline with accessbot audit check, or with their own tools as
docs/transparency.md describes.`,
		Example: `  accessbot audit prove --seq 1842 > event-1842.proof.json
  accessbot audit prove --seq 1842 --checkpoint checkpoint-2026-12-04.txt`,
		Args: noArgs(""),
	}
	path := e.configFlag(cmd)
	cmd.Flags().Int64Var(&seq, "seq", 0, "the event's sequence number (from audit export)")
	cmd.Flags().StringVar(&checkpointFile, "checkpoint", "", "prove against this signed checkpoint instead of a new one")
	cmd.RunE = func(*cobra.Command, []string) error {
		if seq <= 0 {
			return usageErr("--seq is required: the event's sequence number, 1 or more")
		}
		l, closeDB, err := openLog(e, *path)
		if err != nil {
			return err
		}
		defer closeDB()
		var p translog.InclusionProof
		if checkpointFile != "" {
			text, err := readText(checkpointFile, "checkpoint")
			if err != nil {
				return err
			}
			// The log's own verifier: a checkpoint of another log, or changed, is refused.
			ck, err := translog.OpenCheckpoint(text, l.VerifierKey())
			if err != nil {
				return &exitError{code: 1, msg: fmt.Sprintf("%s: %v", checkpointFile, err)}
			}
			p, err = l.Prove(e.ctx, seq, ck)
			if err != nil {
				return err
			}
		} else if p, err = l.ProveLatest(e.ctx, seq); err != nil {
			return err
		}
		b, err := translog.MarshalProof(p)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(append(b, '\n'))
		return err
	}
	return cmd
}

// verifierFlags are --key and --key-file: the verifier key as text or in a file.
type verifierFlags struct{ key, keyFile string }

func (v *verifierFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&v.key, "key", "", "the verifier (public) key, as accessbot audit keygen printed it")
	cmd.Flags().StringVar(&v.keyFile, "key-file", "", "a file holding the verifier key")
}

// get returns the verifier key given, or "" when neither flag is set.
func (v *verifierFlags) get() (string, error) {
	switch {
	case v.key != "" && v.keyFile != "":
		return "", usageErr("give --key or --key-file, not both")
	case v.keyFile != "":
		return readText(v.keyFile, "verifier key")
	}
	return strings.TrimSpace(v.key), nil
}

// readText reads a small text file (a key, a checkpoint) for a flag, with an error naming it.
func readText(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", &exitError{code: 1, msg: fmt.Sprintf("read the %s: %v", what, err)}
	}
	if what == "checkpoint" {
		return string(b), nil
	}
	return strings.TrimSpace(string(b)), nil
}

func auditCheckCommand(e *env) *cobra.Command {
	var v verifierFlags
	cmd := &cobra.Command{
		Use:   "check --key KEY PROOF.json",
		Short: "Check an event's inclusion proof offline, with only the verifier key",
		Long: `Check verifies a proof that accessbot audit prove printed, with only the log's public
verifier key: the checkpoint's signature, that the event's leaf is in the tree the checkpoint
names, and that the event is whole. It needs no config and no database: an auditor runs it on
their own machine. Exit 0 when the proof holds, 1 when it does not. A proof of "-" is read from
standard input.`,
		Example: `  accessbot audit check --key-file checkpoint.pub event-1842.proof.json
  accessbot audit prove --seq 7 | accessbot audit check --key "$(cat checkpoint.pub)" -`,
		Args: exactArgs(1, "the proof file (or - for standard input)"),
		RunE: func(_ *cobra.Command, args []string) error {
			key, err := v.get()
			if err != nil {
				return err
			}
			if key == "" {
				return usageErr("--key or --key-file is required: the log's verifier key")
			}
			var b []byte
			if args[0] == "-" {
				b, err = io.ReadAll(os.Stdin)
			} else {
				b, err = os.ReadFile(args[0])
			}
			if err != nil {
				return &exitError{code: 1, msg: fmt.Sprintf("read the proof: %v", err)}
			}
			p, err := translog.ParseProof(b)
			if err != nil {
				return &exitError{code: 1, msg: fmt.Sprintf("%s is not a proof: %v", args[0], err)}
			}
			ck, err := translog.Check(p, key)
			if err != nil {
				return &exitError{code: 1, msg: fmt.Sprintf("proof does NOT hold: %v", err)}
			}
			fmt.Fprintf(e.stdout, "proof holds: event %d (%s, %s) is in %s at tree size %d, checkpoint of %s\n",
				p.Event.Seq, p.Event.Type, p.Event.At.UTC().Format("2006-01-02 15:04:05 UTC"),
				ck.Checkpoint.Origin, ck.Checkpoint.Size, ck.Checkpoint.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
			return nil
		},
	}
	v.add(cmd)
	return cmd
}

// verifySince is `audit verify --since FILE`: the log checked against an earlier checkpoint,
// reading only the events after it.
func verifySince(e *env, path, checkpointFile string, v *verifierFlags) error {
	key, err := v.get()
	if err != nil {
		return err
	}
	need := logSections
	if key == "" {
		need = translogSections
	}
	cfg, err := loadConfigFor(path, need...)
	if err != nil {
		return err
	}
	if key == "" {
		if !cfg.Transparency.Enabled() {
			return usageErr("--since needs the log's verifier key: give --key or --key-file (or a transparency: section in %s)", cfg.File())
		}
		signer, err := cfg.Transparency.SignerKey()
		if err != nil {
			return err
		}
		if key, err = translog.VerifierKey(signer); err != nil {
			return err
		}
	}
	text, err := readText(checkpointFile, "checkpoint")
	if err != nil {
		return err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return err
	}
	db, err := openExistingStore(e, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := translog.VerifySince(e.ctx, db, text, key)
	if errors.Is(err, translog.ErrTampered) {
		return &exitError{code: 1, msg: fmt.Sprintf("audit log does NOT extend the checkpoint in %s: %v", checkpointFile, err)}
	}
	if err != nil {
		return fmt.Errorf("verify against %s: %w", checkpointFile, err)
	}
	fmt.Fprintf(e.stdout, "audit log extends the checkpoint: %d events then (%s), %d now; the %d events after it are intact\n",
		rep.From.Size, rep.From.Time.UTC().Format("2006-01-02 15:04:05 UTC"), rep.To.Size, rep.Events)
	return nil
}
