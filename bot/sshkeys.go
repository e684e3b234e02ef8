package bot

import (
	"context"
	"errors"
	"time"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/sshkey"
)

// Sub-commands of `/access ssh-key`.
const (
	SSHKeyAdd    = "add"
	SSHKeyList   = "list"
	SSHKeyRemove = "remove"
)

// The key rules live in internal/sshkey, shared with the config's ssh_keys.
type (
	// SSHKey is an SSH public key a person registered with `/access ssh-key add`.
	SSHKey = sshkey.Key
	// SSHKeyError says why a pasted key was refused.
	SSHKeyError = sshkey.Error
)

// MaxSSHKeyInput bounds what ParseSSHKey reads.
const MaxSSHKeyInput = sshkey.MaxInput

// ErrPrivateKeyMessage is what a person who pasted a private key is told.
const ErrPrivateKeyMessage = sshkey.ErrPrivateKeyMessage

// ParseSSHKey reads a public key as people paste it; see sshkey.Parse.
func ParseSSHKey(text string) (SSHKey, error) { return sshkey.Parse(text) }

// NormalizeFingerprint reads a SHA256 key fingerprint as people type it; see
// sshkey.NormalizeFingerprint.
func NormalizeFingerprint(s string) (string, bool) { return sshkey.NormalizeFingerprint(s) }

// sshKey answers `/access ssh-key add|list|remove`: always privately, and only ever about the
// actor's own keys.
func (b *Bot) sshKey(ctx context.Context, a grants.Actor, cmd Command) Reply {
	op := VerbSSHKey + " " + cmd.Sub
	if a.ID == "" {
		return b.fail(a, op, errors.New("the actor has no ID"))
	}
	now := b.clock.Now()
	switch cmd.Sub {
	case SSHKeyAdd:
		return b.addSSHKey(ctx, a, op, cmd.Key, now)
	case SSHKeyRemove:
		return b.removeSSHKey(ctx, a, op, cmd.Key, now)
	}
	keys, err := b.keys.SSHKeys(ctx, a.ID)
	if err != nil {
		return b.fail(a, op, err)
	}
	return private(SSHKeysView(keys, now))
}

// addSSHKey registers the pasted key and answers with the actor's keys. A key they have
// already, or one too many, is answered too: neither is an error of accessbot's.
func (b *Bot) addSSHKey(ctx context.Context, a grants.Actor, op, text string, now time.Time) Reply {
	k, err := ParseSSHKey(text)
	if err != nil {
		var ke *SSHKeyError
		if errors.As(err, &ke) && ke.PrivateKey {
			// Never the text: only that it happened, for whoever watches the logs.
			b.log.Warn().Str("actor", a.ID).Str("platform", a.Platform).
				Msg("someone pasted a private key in /access ssh-key add; refused and not stored")
		}
		return private(SSHKeyRefusedView(err))
	}
	k.Person, k.AddedAt = a.ID, now
	addErr := b.keys.AddPublicKey(ctx, k)
	if addErr != nil && !errors.Is(addErr, ErrKeyExists) && !errors.Is(addErr, ErrTooManyKeys) {
		return b.fail(a, op, addErr)
	}
	keys, err := b.keys.SSHKeys(ctx, a.ID)
	if err != nil {
		return b.fail(a, op, err)
	}
	switch {
	case errors.Is(addErr, ErrKeyExists):
		return private(SSHKeyExistsView(k, keys, now))
	case errors.Is(addErr, ErrTooManyKeys):
		return private(SSHKeyLimitView(keys, now))
	}
	return private(SSHKeyAddedView(k, keys, now))
}

// removeSSHKey deletes the actor's key with the fingerprint and answers with the keys left.
func (b *Bot) removeSSHKey(ctx context.Context, a grants.Actor, op, fingerprint string, now time.Time) Reply {
	k, rmErr := b.keys.RemovePublicKey(ctx, a.ID, fingerprint, now)
	if rmErr != nil && !errors.Is(rmErr, ErrUnknownKey) {
		return b.fail(a, op, rmErr)
	}
	keys, err := b.keys.SSHKeys(ctx, a.ID)
	if err != nil {
		return b.fail(a, op, err)
	}
	if rmErr != nil {
		return private(SSHKeyNotFoundView(fingerprint, keys, now))
	}
	return private(SSHKeyRemovedView(k, keys, now))
}
