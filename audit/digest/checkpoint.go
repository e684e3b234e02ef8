package digest

import (
	"fmt"
	"strings"

	"github.com/accessbot/accessbot/audit"
)

// SectionCheckpoint is the key of the signed checkpoint's section, last, when the digest has one
// (transparency is on): the Merkle tree's size and root hash and the signed note whole, so that
// the chat history where the digest is posted keeps a checkpoint an auditor can check later logs
// against (`accessbot audit verify --since`).
const SectionCheckpoint = "checkpoint"

// checkpointSection says the checkpoint's size and root; the renderers print the note after it
// as a block, verbatim (a signed note must not be reflowed or escaped).
func (d Digest) checkpointSection() Section {
	c := d.Checkpoint
	return Section{Key: SectionCheckpoint, Title: "Signed checkpoint",
		Summary: fmt.Sprintf("%d events, root hash %s", c.Size, c.Root)}
}

// withCheckpoint appends the checkpoint's section to ss when d has a checkpoint.
func (d Digest) withCheckpoint(ss []Section) []Section {
	if d.Checkpoint == nil {
		return ss
	}
	return append(ss, d.checkpointSection())
}

// CheckpointNote is the signed note of d's checkpoint, "" when it has none.
func (d Digest) CheckpointNote() string {
	if d.Checkpoint == nil {
		return ""
	}
	return d.Checkpoint.Note
}

// indent prefixes every line of s with p.
func indent(s, p string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = p + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// checkpointPayload is the type of Digest.Checkpoint, named here so the struct's hunk stays small.
type checkpointPayload = audit.CheckpointPublishedData
