package config

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/sshkey"
)

// sshKeys checks `ssh_keys:` with the rules of `/access ssh-key add` (sshkey.Parse) and keeps
// the keys normalized for KeysFromConfig. Messages never quote a key: a private key pasted here
// by mistake must not reach a log.
func (v *validator) sshKeys() {
	people := make([]string, 0, len(v.c.SSHKeys))
	for p := range v.c.SSHKeys {
		people = append(people, p)
	}
	sort.Strings(people)
	keys := map[string][]string{}
	firstPath := map[string]string{}
	for _, person := range people {
		path := joinKey("ssh_keys", person)
		id := grants.CanonicalPerson(person)
		switch {
		case id == "":
			v.add(path, "a person's accessbot ID (their email) is needed")
			continue
		case !strings.ContainsAny(id, "@:"):
			v.add(path, "%q is not a person's accessbot ID: use their email, or platform:userid (e.g. slack:U024BE7LH) for someone without one", person)
			continue
		case firstPath[id] != "":
			v.add(path, "names the same person as %s; list their keys once", firstPath[id])
			continue
		}
		firstPath[id] = path
		lines := v.c.SSHKeys[person]
		if len(lines) == 0 {
			v.add(path, "no keys: list at least one public key, or remove the entry")
			continue
		}
		seen := map[string]int{}
		for i, line := range lines {
			kpath := joinIndex(path, i)
			if strings.TrimSpace(line) == "" {
				v.add(kpath, "empty: write the public key in authorized_keys form (the one line of a .pub file)")
				continue
			}
			k, err := sshkey.Parse(line)
			if err != nil {
				msg := err.Error()
				var ke *sshkey.Error
				if errors.As(err, &ke) && ke.PrivateKey {
					msg = "that is a private key — never put it in the config; write the .pub file's line, and make a new key pair since this one has been shared"
				}
				v.add(kpath, "%s", msg)
				continue
			}
			if j, dup := seen[k.Fingerprint]; dup {
				v.add(kpath, "the same key as %s", joinIndex(path, j))
				continue
			}
			seen[k.Fingerprint] = i
			keys[id] = append(keys[id], k.Key)
		}
	}
	v.c.keys = keys
}

// KeysFromConfig returns the config's ssh_keys as an adapters.PublicKeySource (people matched
// by their accessbot ID, case-insensitively; keys in the order written), or nil when there are
// none. BuildResourcesWith adds it after the store's keys; adapters.PublicKeySources merges
// sources.
func (c *Config) KeysFromConfig() adapters.PublicKeySource {
	if len(c.keys) == 0 {
		return nil
	}
	return configKeys(c.keys)
}

type configKeys map[string][]string

func (k configKeys) PublicKeys(_ context.Context, subjectID string) ([]string, error) {
	return append([]string{}, k[grants.CanonicalPerson(subjectID)]...), nil
}
