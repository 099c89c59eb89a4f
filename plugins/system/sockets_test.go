package system

import (
	"context"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	psnet "github.com/shirou/gopsutil/v3/net"
)

const tcpTable = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:D432 06 00000000:00000000 03:00000F6E 00000000     0        0 0 3 0000000000000000
   3: garbage
   4: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   5: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 notanumber 1
`

const tcp6Table = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 100 0 0 10 0
   2: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4244 1 0000000000000000 100 0 0 10 0
`

func TestParseSockets(t *testing.T) {
	got := parseSockets([]byte(tcpTable), syscall.AF_INET, syscall.SOCK_STREAM)
	want := []socket{
		{psnet.ConnectionStat{Family: syscall.AF_INET, Type: syscall.SOCK_STREAM, Laddr: psnet.Addr{IP: "127.0.0.1", Port: 8080}, Raddr: psnet.Addr{IP: "0.0.0.0"}, Status: "LISTEN"}, 31337},
		{psnet.ConnectionStat{Family: syscall.AF_INET, Type: syscall.SOCK_STREAM, Laddr: psnet.Addr{IP: "127.0.0.1", Port: 8080}, Raddr: psnet.Addr{IP: "127.0.0.1", Port: 54321}, Status: "ESTABLISHED"}, 31338},
		{psnet.ConnectionStat{Family: syscall.AF_INET, Type: syscall.SOCK_STREAM, Laddr: psnet.Addr{IP: "127.0.0.1", Port: 8080}, Raddr: psnet.Addr{IP: "127.0.0.1", Port: 54322}, Status: "TIME_WAIT"}, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d sockets, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].conn.String() != want[i].conn.String() || got[i].inode != want[i].inode {
			t.Errorf("socket %d: got %v inode %d, want %v inode %d", i, got[i].conn, got[i].inode, want[i].conn, want[i].inode)
		}
	}

	got = parseSockets([]byte(tcp6Table), syscall.AF_INET6, syscall.SOCK_STREAM)
	for i, w := range []string{"::", "127.0.0.1", "::1"} { // a v4-mapped address reads as IPv4, as in gopsutil
		if i >= len(got) || got[i].conn.Laddr.IP != w {
			t.Errorf("tcp6 socket %d: got %+v, want local address %s", i, got, w)
		}
	}

	udp := parseSockets([]byte(tcpTable), syscall.AF_INET, syscall.SOCK_DGRAM)
	if len(udp) != 3 || udp[0].conn.Status != "NONE" {
		t.Errorf("udp: %+v", udp)
	}
}

func TestTCPState(t *testing.T) {
	for in, want := range map[string]string{"01": "ESTABLISHED", "0A": "LISTEN", "0a": "LISTEN", "0B": "CLOSING", "0C": "", "00": "", "x": ""} {
		if got := tcpState([]byte(in)); got != want {
			t.Errorf("tcpState(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseSockets(f *testing.F) {
	f.Add([]byte(tcpTable), true)
	f.Add([]byte(tcp6Table), false)
	f.Fuzz(func(t *testing.T, b []byte, v4 bool) {
		family := uint32(syscall.AF_INET6)
		if v4 {
			family = syscall.AF_INET
		}
		for _, s := range parseSockets(b, family, syscall.SOCK_STREAM) {
			if net.ParseIP(s.conn.Laddr.IP) == nil || net.ParseIP(s.conn.Raddr.IP) == nil {
				t.Errorf("bad address in %+v", s.conn)
			}
			if s.conn.Laddr.Port > 65535 || s.conn.Raddr.Port > 65535 {
				t.Errorf("bad port in %+v", s.conn)
			}
		}
	})
}

// fakeOwners answers from a table instead of /proc.
type fakeOwners struct {
	held map[uint64][]owner // inode → processes holding it, lowest PID first
	dead map[int32]bool
}

func (f *fakeOwners) install(o *owners) {
	o.alive = func(own owner) bool { return !f.dead[own.pid] }
	o.scan = func(want map[uint64]bool) map[uint64]owner {
		found := map[uint64]owner{}
		for ino := range want {
			for _, own := range f.held[ino] {
				if !f.dead[own.pid] {
					found[ino] = own
					break
				}
			}
		}
		return found
	}
}

func TestOwnersLookup(t *testing.T) {
	f := &fakeOwners{
		held: map[uint64][]owner{10: {{pid: 100, start: 1}, {pid: 101, start: 2}}, 11: {{pid: 200, start: 3}}},
		dead: map[int32]bool{},
	}
	o := newOwners("/nonexistent")
	f.install(o)
	now := time.Unix(1e9, 0)
	check := func(step string, inodes []uint64, want map[uint64]int32, scans int) {
		t.Helper()
		got := o.lookup(inodes, now)
		for ino, pid := range want {
			if got[ino] != pid {
				t.Errorf("%s: inode %d owned by %d, want %d", step, ino, got[ino], pid)
			}
		}
		if o.scans != scans {
			t.Errorf("%s: %d scans, want %d", step, o.scans, scans)
		}
	}
	check("first run", []uint64{10, 11, 12}, map[uint64]int32{10: 100, 11: 200, 12: 0}, 1)
	check("nothing new: no scan", []uint64{10, 11, 12}, map[uint64]int32{10: 100, 11: 200, 12: 0}, 1)
	f.held[13] = []owner{{pid: 300, start: 4}}
	check("a new listener: one scan", []uint64{10, 11, 12, 13}, map[uint64]int32{13: 300}, 2)
	f.dead[100] = true
	check("the owner exited, its child holds on", []uint64{10, 11, 12, 13}, map[uint64]int32{10: 101, 11: 200}, 3)
	check("closed sockets are forgotten", []uint64{11}, map[uint64]int32{11: 200}, 3)
	if len(o.known) != 1 {
		t.Errorf("known = %v, want inode 11 only", o.known)
	}
	check("a socket seen again is looked up again", []uint64{11, 13}, map[uint64]int32{13: 300}, 4)
	now = now.Add(ownerMaxAge + time.Second)
	check("after ownerMaxAge everything is looked up again", []uint64{11, 13}, map[uint64]int32{11: 200, 13: 300}, 5)
	check("no listener at all: no scan", nil, nil, 5)
}

// TestConnectionsOwners reads this machine's sockets: a listener of this
// process, and one held by two child processes (as a forking server's is),
// whose owner is the lower PID until that one exits.
func TestConnectionsOwners(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	p := New()
	mine, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()

	shared, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sharedFile, err := shared.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	var children []*exec.Cmd
	for range 2 {
		c := exec.Command("sleep", "60")
		c.ExtraFiles = []*os.File{sharedFile}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		children = append(children, c)
		defer func() { c.Process.Kill(); c.Wait() }()
	}
	shared.Close()
	sharedFile.Close()

	owner := func(addr net.Addr, proto string) (int32, bool) {
		t.Helper()
		conns, err := p.connections()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range listeners(conns) {
			if l.Proto == proto && l.ID() == proto+"/"+addr.String() {
				return l.PID, true
			}
		}
		return 0, false
	}
	self := int32(os.Getpid())
	if pid, ok := owner(mine.Addr(), "tcp"); !ok || pid != self {
		t.Errorf("tcp listener: pid %d (found %t), want %d", pid, ok, self)
	}
	if pid, ok := owner(udp.LocalAddr(), "udp"); !ok || pid != self {
		t.Errorf("udp socket: pid %d (found %t), want %d", pid, ok, self)
	}
	first, second := int32(children[0].Process.Pid), int32(children[1].Process.Pid)
	if first > second {
		first, second = second, first
	}
	if pid, _ := owner(shared.Addr(), "tcp"); pid != first {
		t.Errorf("shared listener: pid %d, want the lower of %d and %d", pid, first, second)
	}

	// Whether a second read scans depends on the other listeners of this
	// machine (a new one anywhere means a scan); TestOwnersLookup checks
	// that on a fake /proc.
	if pid, _ := owner(mine.Addr(), "tcp"); pid != self {
		t.Errorf("second read: pid %d, want %d", pid, self)
	}

	for _, c := range children {
		if int32(c.Process.Pid) == first {
			c.Process.Kill()
			c.Wait()
		}
	}
	if pid, _ := owner(shared.Addr(), "tcp"); pid != second {
		t.Errorf("after pid %d exited: pid %d, want %d", first, pid, second)
	}

	// gopsutil, which reads every process's fds every time, agrees.
	all, err := psnet.ConnectionsMaxWithoutUidsWithContext(context.Background(), "inet", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{"tcp/" + mine.Addr().String(): self, "udp/" + udp.LocalAddr().String(): self, "tcp/" + shared.Addr().String(): second}
	for _, l := range listeners(all) {
		if pid, ok := want[l.ID()]; ok {
			if l.PID != pid {
				t.Errorf("gopsutil says %s is pid %d's, we say %d", l.ID(), l.PID, pid)
			}
			delete(want, l.ID())
		}
	}
	if len(want) > 0 {
		t.Errorf("gopsutil did not list %v", want)
	}
	t.Logf("%d scans of /proc/*/fd over 4 reads", p.owners.scans)
}
