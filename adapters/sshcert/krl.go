package sshcert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The parts of OpenSSH's KRL format (PROTOCOL.krl) the adapter writes: a header, then for each
// CA one certificates section holding one serial-list subsection.
const (
	krlMagic             = "SSHKRL\n\x00"
	krlFormatVersion     = 1
	krlSectionCerts      = 1
	krlCertSectionSerial = 0x20
	// krlComment marks a KRL as accessbot's, so that one whose state file was lost can be
	// read back instead of overwritten.
	krlComment = "accessbot sshcert"
)

// krlCA is one CA's revoked serials: caKey is the CA public key in SSH wire format.
type krlCA struct {
	caKey   []byte
	serials []uint64
}

// encodeKRL builds a KRL. Serials are sorted and deduplicated, and serial 0 (which sshd never
// revokes, and this adapter never issues) is left out. A CA without serials gets no section.
func encodeKRL(version uint64, generated time.Time, cas []krlCA) []byte {
	b := []byte(krlMagic)
	b = binary.BigEndian.AppendUint32(b, krlFormatVersion)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(max(generated.Unix(), 0)))
	b = binary.BigEndian.AppendUint64(b, 0) // flags
	b = appendString(b, nil)                // reserved
	b = appendString(b, []byte(krlComment))
	for _, ca := range cas {
		serials := slices.Clone(ca.serials)
		slices.Sort(serials)
		serials = slices.Compact(serials)
		serials = slices.DeleteFunc(serials, func(s uint64) bool { return s == 0 })
		if len(serials) == 0 {
			continue
		}
		var list []byte
		for _, s := range serials {
			list = binary.BigEndian.AppendUint64(list, s)
		}
		var sect []byte
		sect = appendString(sect, ca.caKey)
		sect = appendString(sect, nil) // reserved
		sect = append(sect, krlCertSectionSerial)
		sect = appendString(sect, list)
		b = append(b, krlSectionCerts)
		b = appendString(b, sect)
	}
	return b
}

func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// errForeignKRL says a KRL uses parts of the format this adapter never writes.
var errForeignKRL = errors.New("not a revocation list written by accessbot")

// decodeKRL reads a KRL this adapter wrote. Anything else, including valid KRLs with other
// kinds of sections (made by ssh-keygen), is errForeignKRL: the adapter does not rewrite
// revocations it cannot represent.
func decodeKRL(data []byte) (version uint64, cas []krlCA, err error) {
	r := reader{b: data}
	if string(r.bytes(len(krlMagic))) != krlMagic {
		return 0, nil, errForeignKRL
	}
	if r.u32() != krlFormatVersion {
		return 0, nil, errForeignKRL
	}
	version = r.u64()
	r.u64() // generated
	r.u64() // flags
	r.str() // reserved
	if string(r.str()) != krlComment {
		return 0, nil, errForeignKRL
	}
	for r.err == nil && len(r.b) > 0 {
		typ := r.u8()
		sect := reader{b: r.str()}
		if typ != krlSectionCerts {
			return 0, nil, errForeignKRL
		}
		ca := krlCA{caKey: sect.str()}
		sect.str() // reserved
		for sect.err == nil && len(sect.b) > 0 {
			if sect.u8() != krlCertSectionSerial {
				return 0, nil, errForeignKRL
			}
			list := reader{b: sect.str()}
			for list.err == nil && len(list.b) > 0 {
				ca.serials = append(ca.serials, list.u64())
			}
			if list.err != nil {
				return 0, nil, list.err
			}
		}
		if sect.err != nil {
			return 0, nil, sect.err
		}
		cas = append(cas, ca)
	}
	if r.err != nil {
		return 0, nil, r.err
	}
	return version, cas, nil
}

// reader reads SSH wire format, remembering the first error.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated revocation list")

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = errShort
		r.b = nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str() []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: a field of %d bytes with %d left", errShort, n, len(r.b))
		r.b = nil
		return nil
	}
	return r.bytes(int(n))
}
