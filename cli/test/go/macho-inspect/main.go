// macho-inspect prints the structure of a Mach-O file as JSON, read with Go's own debug/macho (a parser
// independent of cli/build/macho.ts): CPU, file type, load commands in order, segments with their sections, the
// code signature's place, and the SHA-256 of every section's bytes. The CLI tests check the macOS single
// executables with it; built for darwin/arm64, Go's linker signs it ad hoc, which makes it the golden input of
// the signer test too.
package main

import (
	"crypto/sha256"
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

type section struct {
	Name   string `json:"name"`
	Offset uint32 `json:"offset"`
	Size   uint64 `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

type segment struct {
	Name     string    `json:"name"`
	Offset   uint64    `json:"offset"`
	Filesz   uint64    `json:"filesz"`
	Addr     uint64    `json:"addr"`
	Memsz    uint64    `json:"memsz"`
	Sections []section `json:"sections"`
}

type report struct {
	Cpu       string    `json:"cpu"`
	Type      string    `json:"type"`
	Loads     []uint32  `json:"loads"`
	Segments  []segment `json:"segments"`
	SigOffset uint32    `json:"sigOffset"`
	SigSize   uint32    `json:"sigSize"`
	FileSize  int64     `json:"fileSize"`
}

const lcCodeSignature = 0x1d

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: macho-inspect FILE")
		os.Exit(2)
	}
	f, err := macho.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	st, err := os.Stat(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r := report{Cpu: f.Cpu.String(), Type: f.Type.String(), FileSize: st.Size()}
	for _, l := range f.Loads {
		raw := l.Raw()
		cmd := f.ByteOrder.Uint32(raw)
		r.Loads = append(r.Loads, cmd)
		if cmd == lcCodeSignature {
			r.SigOffset = binary.LittleEndian.Uint32(raw[8:])
			r.SigSize = binary.LittleEndian.Uint32(raw[12:])
		}
		seg, ok := l.(*macho.Segment)
		if !ok {
			continue
		}
		s := segment{Name: seg.Name, Offset: seg.Offset, Filesz: seg.Filesz, Addr: seg.Addr, Memsz: seg.Memsz, Sections: []section{}}
		for _, sec := range f.Sections {
			if sec.Seg != seg.Name {
				continue
			}
			out := section{Name: sec.Name, Offset: sec.Offset, Size: sec.Size}
			if sec.Offset != 0 {
				h := sha256.New()
				if _, err := io.Copy(h, sec.Open()); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				out.SHA256 = hex.EncodeToString(h.Sum(nil))
			}
			s.Sections = append(s.Sections, out)
		}
		r.Segments = append(r.Segments, s)
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
