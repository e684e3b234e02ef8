package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// expander replaces ${...} references in scalar values.
//
//	${NAME}            the environment variable NAME; an error when it is not set
//	${NAME:-default}   NAME, or default when NAME is unset or empty
//	${file:/path}      the file's content without its trailing newline; a relative path is
//	                   relative to the config file's directory
//	$${                a literal "${"
type expander struct {
	env func(string) (string, bool)
	// dir is the config file's directory.
	dir string
	// secrets collects every value a reference brought in, for redaction.
	secrets []string
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand returns s with its references replaced and how many there were. Errors name the
// reference, never the value.
func (x *expander) expand(s string) (string, int, error) {
	var b strings.Builder
	refs := 0
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", refs, fmt.Errorf("unclosed ${ (write $${ for a literal ${)")
			}
			ref := s[i+2 : i+2+end]
			val, err := x.resolve(ref)
			if err != nil {
				return "", refs, err
			}
			if val != "" {
				x.secrets = append(x.secrets, val)
			}
			b.WriteString(val)
			refs++
			i += 2 + end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), refs, nil
}

func (x *expander) resolve(ref string) (string, error) {
	if path, ok := strings.CutPrefix(ref, "file:"); ok {
		if path == "" {
			return "", fmt.Errorf("${file:} needs a path, e.g. ${file:/run/secrets/token}")
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(x.dir, path)
		}
		data, err := readSecretFile(path)
		if err != nil {
			// The *PathError names the file and the cause; it never holds content.
			return "", fmt.Errorf("${%s}: %w", ref, err)
		}
		val := strings.TrimSuffix(string(data), "\n")
		return strings.TrimSuffix(val, "\r"), nil
	}
	name, def, hasDefault := strings.Cut(ref, ":-")
	if !envName.MatchString(name) {
		return "", fmt.Errorf("${%s} is not a valid reference (use ${NAME}, ${NAME:-default} or ${file:/path}; $${ for a literal ${)", ref)
	}
	val, ok := x.env(name)
	if hasDefault && val == "" {
		return def, nil
	}
	if !ok {
		return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
	}
	return val, nil
}

// maxSecretFile bounds what ${file:} reads: a token, a key or a certificate chain fits.
const maxSecretFile = 1 << 20

// readSecretFile reads a regular file of at most maxSecretFile bytes. A device, a FIFO or a
// directory is refused, so a mistyped path can neither hang the loader (/dev/stdin, a pipe)
// nor exhaust memory (/dev/zero).
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes; a secret file holds one secret", path, maxSecretFile)
	}
	return data, nil
}
