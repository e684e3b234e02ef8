// Package config owns accessbot's configuration file: it reads the YAML, expands ${NAME},
// ${NAME:-default} and ${file:/path} references in scalar values, decodes the result strictly
// into Go structs, validates it, and turns each resource into a grants.Resource with its adapter
// and effective policy.
//
// Strictness is the point. An operator who writes `max_duraton: 2h` must not get a silent
// default of 8h, so every unknown key, wrong type, unparseable duration, unknown adapter type or
// missing group is an error that names the file, the line and the key, and all of them are
// reported at once (an *Errors listing every Problem), so a broken file is fixed in one pass.
//
// The decoder is hand-written over yaml.v3's node tree because yaml.v3's KnownFields does not
// apply to Node.Decode and stops at the first error. Expansion happens after parsing, on scalar
// values only, so a secret that contains YAML syntax cannot change the file's structure, and the
// values it brings in are remembered (Secrets) so logs can redact them. Error messages never
// print an expanded value: they quote the ${...} reference instead.
package config
