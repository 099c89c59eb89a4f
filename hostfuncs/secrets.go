package hostfuncs

import (
	"strings"
)

// Files no read grant reaches, whatever prefix it names (read = ["/proc"],
// read = ["/"]): the kernel's and other processes' secrets. They are found
// by the filesystem the opened file is on, not by where it is mounted, so a
// procfs mounted at /host/proc is no way round, and by the path the opened
// file really has, so /proc/self and /proc/thread-self are no way round
// either. docs/ABI.md lists them with these reasons.
//
// In every process's folder (/proc/PID and /proc/PID/task/TID):
var procSecrets = map[string]string{
	"environ":      "a process's environment holds its secrets (tokens, passwords)",
	"mem":          "a process's memory",
	"pagemap":      "the physical frames of a process's memory",
	"auxv":         "addresses that undo a process's address space randomisation",
	"syscall":      "a process's registers",
	"stack":        "a process's kernel stack",
	"maps":         "the layout of a process's memory",
	"smaps":        "the layout of a process's memory",
	"smaps_rollup": "the layout of a process's memory",
	"numa_maps":    "the layout of a process's memory",
	"fd":           "links that open whatever file a process holds, granted or not",
	"map_files":    "links that open whatever file a process maps, granted or not",
}

// At the top of procfs:
var procTopSecrets = map[string]string{
	"kcore":       "the kernel's memory",
	"kmsg":        "reading it takes messages from the kernel log",
	"kallsyms":    "kernel addresses that undo its address space randomisation",
	"kpagecount":  "physical memory's pages",
	"kpageflags":  "physical memory's pages",
	"kpagecgroup": "physical memory's pages",
}

// Filesystem types (statfs f_type) with nothing a probe may read.
const (
	procfsMagic     = 0x9fa0
	debugfsMagic    = 0x64626720
	tracefsMagic    = 0x74726163
	securityfsMagic = 0x73636673
	efivarfsMagic   = 0xde5e81e4
	bpffsMagic      = 0xcafe4a11
)

var secretFilesystems = map[int64]string{
	debugfsMagic:    "debugfs: the kernel's internals",
	tracefsMagic:    "tracefs: the kernel's trace buffers",
	securityfsMagic: "securityfs: security modules' state",
	efivarfsMagic:   "efivarfs: firmware variables",
	bpffsMagic:      "bpffs: pinned BPF objects",
}

// secretReason says why the file at path (its real path, symlinks
// resolved), on a filesystem of type fsType, is never read; "" when it may
// be.
func secretReason(fsType int64, path string) string {
	if why, ok := secretFilesystems[fsType]; ok {
		return why
	}
	if fsType != procfsMagic {
		return ""
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if why, ok := procTopSecrets[parts[len(parts)-1]]; ok { // no process has files so named
		return why
	}
	// PID/NAME or PID/task/TID/NAME, wherever procfs is mounted: a
	// numeric folder followed by a secret, or by task and another number.
	for i := 0; i+1 < len(parts); i++ {
		if !numeric(parts[i]) {
			continue
		}
		next := parts[i+1]
		if why, ok := procSecrets[next]; ok {
			return why
		}
	}
	return ""
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
