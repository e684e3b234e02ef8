// Package sshcert is the "sshcert" adapter: accessbot acts as an SSH certificate authority. For
// each grant it signs the requester's registered public key with the resource's principals and
// a validity of exactly the grant window (valid after the grant's start, valid before its
// expiry), and hands the certificate to the requester once, by direct message. sshd on the
// target hosts trusts the CA (TrustedUserCAKeys) and checks the validity itself, so access
// ends on time even when accessbot is down.
//
// An early revocation adds the certificate's serial to a key revocation list (KRL, OpenSSH's
// binary format, see PROTOCOL.krl) that the adapter keeps at `revoked_keys` and sshd reads at
// every login (RevokedKeys). The adapter writes the KRL itself, in Go, rather than running
// ssh-keygen -k: the bot's host needs no OpenSSH tools, a revocation costs no process, and the
// format it needs (per CA, a list of serials) is small; tests check the result with both
// ssh-keygen -Q and a real sshd. Next to the KRL lives a state file (`<revoked_keys>.state`,
// JSON) listing each revoked serial with its certificate's expiry: every revocation rebuilds
// the KRL from it, dropping certificates that have expired by themselves, so the list stays as
// long as the revocations that still matter. Both files are replaced atomically (a temporary
// file, fsync, rename), under a lock file (`<revoked_keys>.lock`) shared by every process and
// resource that uses the same list. Distributing the KRL to the hosts is the operator's job.
//
// Serials are derived from the grant ID with an HMAC keyed by the CA's private key, so Grant
// is idempotent without any state (a second Grant for a grant returns a certificate with the
// same serial) and Revoke works without lease data (after a crash between signing and storing
// the lease).
//
// A certificate cannot be extended: Extend returns a permanent error, and the holder asks for a
// new grant. Certificates cannot be listed at the target either, so the adapter is no Lister.
//
// Public keys come from Env.PublicKeys (keys people register in chat with
// `/access ssh-key add`) when the bot provides it, else from the config's `keys` map.
package sshcert
