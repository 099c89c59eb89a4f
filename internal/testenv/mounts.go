//go:build linux

package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Root       string // path inside the mounted filesystem that is the mount's root
	MountPoint string
	FSType     string
	Source     string
	SuperOpts  string // per-superblock options: "rw,name=systemd" for a named cgroup v1
}

// parseMountinfo parses the format of proc(5) /proc/PID/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Optional fields end at the lone "-".
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("parse mountinfo line %q: malformed", line)
		}
		e := mountEntry{
			Root:       unescapeOctal(f[3]),
			MountPoint: unescapeOctal(f[4]),
			FSType:     f[sep+1],
			Source:     unescapeOctal(f[sep+2]),
		}
		if sep+3 < len(f) {
			e.SuperOpts = f[sep+3]
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeOctal undoes the kernel's \ooo escaping of space, tab, newline and
// backslash in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readMountinfo() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("open mountinfo: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// mountsUnder lists the mount points at or below dir, deepest first (the
// order to unmount them in).
func mountsUnder(dir string) ([]string, error) {
	ms, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, m := range ms {
		if within(m.MountPoint, dir) && !seen[m.MountPoint] {
			seen[m.MountPoint] = true
			out = append(out, m.MountPoint)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// unmountUnder detaches every mount at or below dir. A mount point may be
// stacked several times (dockerd bind-mounts its data root onto itself), so it
// loops until nothing is left.
func unmountUnder(dir string) error {
	for range 32 {
		ms, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			return nil
		}
		for _, m := range ms {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil &&
				!errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("unmount %s: %w", m, err)
			}
		}
	}
	ms, _ := mountsUnder(dir)
	return fmt.Errorf("mounts still under %s after 32 rounds: %v", dir, ms)
}
