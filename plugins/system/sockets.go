package system

// This file reads the host's TCP and UDP sockets and finds the processes
// that own the listening ones. gopsutil's net.Connections does both, but it
// learns the owner of every socket by reading every fd of every process, on
// every run: ~90% of a default run (docs/PERFORMANCE.md). Only listeners
// show an owner, and they come and go rarely, so owners are looked up for
// listeners only, and remembered while the owning process lives.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	stdnet "net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	psnet "github.com/shirou/gopsutil/v3/net"
	"github.com/shirou/gopsutil/v3/process"
)

// socketTables are the files read, in the order gopsutil's "inet" kind
// reads them: the order decides which of two identical entries is kept.
var socketTables = []struct {
	file         string
	family, kind uint32
}{
	{"tcp", syscall.AF_INET, syscall.SOCK_STREAM},
	{"tcp6", syscall.AF_INET6, syscall.SOCK_STREAM},
	{"udp", syscall.AF_INET, syscall.SOCK_DGRAM},
	{"udp6", syscall.AF_INET6, syscall.SOCK_DGRAM},
}

// socket is one line of a socket table: the connection as gopsutil
// describes it (without owner) and its inode, which names it in /proc/PID/fd.
type socket struct {
	conn  psnet.ConnectionStat
	inode uint64
}

// readSockets reads the socket tables under procRoot (/proc, or HOST_PROC
// as gopsutil honours it). A missing IPv6 table means no IPv6: no sockets.
func readSockets(procRoot string) ([]socket, error) {
	var tables [][]socket
	n := 0
	for _, t := range socketTables {
		b, err := os.ReadFile(filepath.Join(procRoot, "net", t.file))
		if errors.Is(err, fs.ErrNotExist) && t.family == syscall.AF_INET6 {
			continue
		}
		if err != nil {
			return nil, err
		}
		socks := parseSockets(b, t.family, t.kind)
		tables = append(tables, socks)
		n += len(socks)
	}
	all := make([]socket, 0, n)
	seen := make(map[socketKey]bool, n)
	for _, socks := range tables {
		for _, s := range socks {
			// Entries that read the same (the table changed while it was
			// read) are one socket, as gopsutil counts them.
			k := socketKey{s.conn.Type, s.conn.Laddr, s.conn.Raddr, s.conn.Status}
			if !seen[k] {
				seen[k] = true
				all = append(all, s)
			}
		}
	}
	return all, nil
}

// socketKey is what tells two sockets apart for gopsutil.
type socketKey struct {
	kind          uint32
	local, remote psnet.Addr
	status        string
}

// parseSockets parses a /proc/net/{tcp,udp}{,6} table. Lines that do not
// parse are left out, as gopsutil leaves them out. A busy host has
// thousands of lines, so fields are sliced, not copied, and each address
// is formatted once.
func parseSockets(b []byte, family, kind uint32) []socket {
	out := make([]socket, 0, bytes.Count(b, []byte{'\n'}))
	ips := map[string]string{} // hex → formatted
	first := true
	for line := range bytes.Lines(b) {
		if first { // the header
			first = false
			continue
		}
		var f [10][]byte
		if fields(line, f[:]) < len(f) {
			continue
		}
		local, err1 := parseSocketAddr(family, f[1], ips)
		remote, err2 := parseSocketAddr(family, f[2], ips)
		inode, err3 := strconv.ParseUint(string(f[9]), 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		status := "NONE"
		if kind == syscall.SOCK_STREAM {
			status = tcpState(f[3])
		}
		out = append(out, socket{
			conn:  psnet.ConnectionStat{Family: family, Type: kind, Laddr: local, Raddr: remote, Status: status},
			inode: inode,
		})
	}
	return out
}

// fields fills f with the first len(f) space-separated fields of line and
// returns how many it found.
func fields(line []byte, f [][]byte) int {
	n := 0
	for n < len(f) {
		line = bytes.TrimLeft(line, " \t\n")
		if len(line) == 0 {
			break
		}
		end := bytes.IndexAny(line, " \t\n")
		if end < 0 {
			end = len(line)
		}
		f[n], line = line[:end], line[end:]
		n++
	}
	return n
}

// tcpState names the st column of /proc/net/tcp: 01 is ESTABLISHED, the
// first of tcpStates, 0A LISTEN... (include/net/tcp_states.h); "" for a
// number it does not know.
func tcpState(hexState []byte) string {
	n, err := strconv.ParseUint(string(hexState), 16, 8)
	if err != nil || n < 1 || int(n) > len(tcpStates) {
		return ""
	}
	return tcpStates[n-1]
}

// parseSocketAddr reads "0100007F:1F90" (IPv4, little-endian on the hosts
// Go runs on) or 32 hex digits of IPv6 (four little-endian words) and a hex
// port. ips caches formatted addresses by their hex.
func parseSocketAddr(family uint32, s []byte, ips map[string]string) (psnet.Addr, error) {
	ipHex, portHex, ok := bytes.Cut(s, []byte{':'})
	if !ok {
		return psnet.Addr{}, fmt.Errorf("no port in %q", s)
	}
	port, err := strconv.ParseUint(string(portHex), 16, 16)
	if err != nil {
		return psnet.Addr{}, fmt.Errorf("port of %q: %w", s, err)
	}
	if ip, ok := ips[string(ipHex)]; ok {
		return psnet.Addr{IP: ip, Port: uint32(port)}, nil
	}
	want := 4
	if family == syscall.AF_INET6 {
		want = 16
	}
	var raw [16]byte
	if len(ipHex) != 2*want {
		return psnet.Addr{}, fmt.Errorf("address of %q is not %d hex bytes", s, want)
	}
	if _, err := hex.Decode(raw[:], ipHex); err != nil {
		return psnet.Addr{}, fmt.Errorf("address of %q: %w", s, err)
	}
	ip := make(stdnet.IP, want)
	for w := 0; w < want; w += 4 {
		ip[w], ip[w+1], ip[w+2], ip[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	str := ip.String()
	ips[string(ipHex)] = str
	return psnet.Addr{IP: str, Port: uint32(port)}, nil
}

// ownerMaxAge bounds how long a remembered owner is trusted without a full
// scan: an owner that gave its socket to another process and lives on is
// noticed within this time.
const ownerMaxAge = 10 * time.Minute

// owner is a process holding a socket: its PID and start time, which tell
// a reused PID apart.
type owner struct {
	pid   int32
	start int64
}

// owners remembers which process owns each listening socket. Like
// gopsutil, the owner of a socket several processes hold (a forking
// server's) is the one with the lowest PID.
type owners struct {
	mu      sync.Mutex
	known   map[uint64]owner // by inode; pid 0: no process found holding it
	fresh   time.Time        // when known was last emptied
	scans   int              // full scans done, for tests
	procDir string

	// alive and scan are the I/O, replaced in tests.
	alive func(o owner) bool
	scan  func(want map[uint64]bool) map[uint64]owner
}

func newOwners(procRoot string) *owners {
	o := &owners{procDir: procRoot, known: map[uint64]owner{}}
	o.alive = o.procAlive
	o.scan = o.procScan
	return o
}

// lookup returns the owning PID of each inode (0: none found). It scans
// processes only for inodes it does not know, or whose owner is gone, and
// forgets inodes not asked for.
func (o *owners) lookup(inodes []uint64, now time.Time) map[uint64]int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if now.Sub(o.fresh) > ownerMaxAge {
		clear(o.known)
		o.fresh = now
	}
	want := map[uint64]bool{}
	checked := map[owner]bool{}
	for _, ino := range inodes {
		own, ok := o.known[ino]
		if ok && own.pid != 0 {
			live, done := checked[own]
			if !done {
				live = o.alive(own)
				checked[own] = live
			}
			ok = live
		}
		if !ok {
			want[ino] = true
		}
	}
	if len(want) > 0 {
		o.scans++
		found := o.scan(want)
		for ino := range want {
			o.known[ino] = found[ino] // the zero owner when none was found
		}
	}
	out := make(map[uint64]int32, len(inodes))
	for _, ino := range inodes {
		out[ino] = o.known[ino].pid
	}
	for ino := range o.known {
		if _, ok := out[ino]; !ok {
			delete(o.known, ino)
		}
	}
	return out
}

// procAlive reports whether o's process still runs (not a reused PID).
func (o *owners) procAlive(own owner) bool {
	start, err := o.startTime(own.pid)
	return err == nil && start == own.start
}

// procScan reads the fds of processes in PID order until every wanted
// socket has an owner or every process was read. Processes it may not read
// (another user's, when not root) and ones that exit meanwhile are skipped.
func (o *owners) procScan(want map[uint64]bool) map[uint64]owner {
	found := map[uint64]owner{}
	d, err := os.Open(o.procDir)
	if err != nil {
		return found
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	for _, pid := range pids {
		if len(found) == len(want) {
			break
		}
		fdDir := filepath.Join(o.procDir, strconv.Itoa(pid), "fd")
		f, err := os.Open(fdDir)
		if err != nil {
			continue
		}
		fds, _ := f.Readdirnames(-1)
		f.Close()
		var start int64
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(fdDir, fd))
			if err != nil {
				continue
			}
			ino, ok := socketInode(target)
			if !ok || !want[ino] {
				continue
			}
			if _, dup := found[ino]; dup {
				continue
			}
			if start == 0 {
				if start, err = o.startTime(int32(pid)); err != nil {
					break // it exited
				}
			}
			found[ino] = owner{pid: int32(pid), start: start}
		}
	}
	return found
}

// socketInode reads the inode out of an fd's link target "socket:[12345]".
func socketInode(target string) (uint64, bool) {
	s, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// startTime is when process pid started (ms since the epoch, from
// /proc/PID/stat): with the PID it names one process, not a reused PID.
func (o *owners) startTime(pid int32) (int64, error) {
	p := process.Process{Pid: pid}
	return p.CreateTimeWithContext(context.Background())
}
