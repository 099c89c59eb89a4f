//go:build linux

package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procInfo is what the harness needs to know about a process to decide
// whether it started it.
type procInfo struct {
	PID, PPID int
	Comm      string
	Start     uint64 // starttime in clock ticks since boot: tells a reused PID apart
	Cmdline   []string
}

// parseStat parses /proc/PID/stat. comm may hold spaces and parentheses, so
// it is the text between the first '(' and the last ')'.
func parseStat(s string) (comm string, ppid int, start uint64, err error) {
	open := strings.IndexByte(s, '(')
	closing := strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, 0, fmt.Errorf("parse stat %q: no comm", s)
	}
	comm = s[open+1 : closing]
	// Fields after comm: state(3) ppid(4) ... starttime(22); index 0 is state.
	f := strings.Fields(s[closing+1:])
	if len(f) < 20 {
		return "", 0, 0, fmt.Errorf("parse stat %q: %d fields after comm", s, len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return "", 0, 0, fmt.Errorf("parse stat ppid: %w", err)
	}
	if start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return "", 0, 0, fmt.Errorf("parse stat starttime: %w", err)
	}
	return comm, ppid, start, nil
}

func readProc(pid int) (procInfo, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	comm, ppid, start, err := parseStat(string(b))
	if err != nil {
		return procInfo{}, err
	}
	p := procInfo{PID: pid, PPID: ppid, Comm: comm, Start: start}
	if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		for _, a := range bytes.Split(bytes.TrimRight(cl, "\x00"), []byte{0}) {
			p.Cmdline = append(p.Cmdline, string(a))
		}
	}
	return p, nil
}

// processes lists every process visible in /proc; processes that exit while
// it reads are left out.
func processes() ([]procInfo, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := readProc(pid)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// processesMentioning returns the processes (not zombies: they have no
// cmdline) whose command line names a path under dir.
func processesMentioning(dir string) ([]procInfo, error) {
	all, err := processes()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var out []procInfo
	for _, p := range all {
		if p.PID == self {
			continue
		}
		for _, a := range p.Cmdline {
			if strings.Contains(a, dir) {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}

// processAlive reports whether pid still runs the process that started at
// start (0: any). A zombie counts as gone.
func processAlive(pid int, start uint64) bool {
	p, err := readProc(pid)
	if err != nil {
		return false
	}
	if start != 0 && p.Start != start {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return err == nil && !bytes.Contains(st, []byte("State:\tZ"))
}

// childrenOf returns the live children of pid.
func childrenOf(pid int) ([]procInfo, error) {
	all, err := processes()
	if err != nil {
		return nil, err
	}
	var out []procInfo
	for _, p := range all {
		if p.PPID == pid && processAlive(p.PID, p.Start) {
			out = append(out, p)
		}
	}
	return out, nil
}

// killAndWait sends SIGKILL to each process and waits until all are gone.
func killAndWait(ps []procInfo, timeout time.Duration) error {
	for _, p := range ps {
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill %d (%s): %w", p.PID, p.Comm, err)
		}
	}
	deadline := time.Now().Add(timeout)
	for _, p := range ps {
		for processAlive(p.PID, p.Start) {
			if time.Now().After(deadline) {
				return fmt.Errorf("process %d (%s) still alive %s after SIGKILL", p.PID, p.Comm, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// selfStart is the start time of this process, written into instance files so
// a reaper can tell whether the owner still lives.
func selfStart() uint64 {
	p, err := readProc(os.Getpid())
	if err != nil {
		return 0
	}
	return p.Start
}

// absPath makes p absolute and clean; processes and mounts name absolute paths.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}
