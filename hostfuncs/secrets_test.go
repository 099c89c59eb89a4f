package hostfuncs

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

func TestSecretReason(t *testing.T) {
	for _, tc := range []struct {
		fs     int64
		path   string
		secret bool
	}{
		{procfsMagic, "/proc/1/environ", true},
		{procfsMagic, "/proc/1/task/1/environ", true},
		{procfsMagic, "/proc/42/mem", true},
		{procfsMagic, "/proc/42/task/43/mem", true},
		{procfsMagic, "/proc/42/maps", true},
		{procfsMagic, "/proc/42/fd", true},
		{procfsMagic, "/proc/42/fd/3", true},
		{procfsMagic, "/proc/42/map_files/400000-401000", true},
		{procfsMagic, "/proc/kcore", true},
		{procfsMagic, "/host/proc/kallsyms", true},
		{procfsMagic, "/host/proc/7/environ", true}, // procfs mounted elsewhere
		{procfsMagic, "/mnt/2/proc/kmsg", true},
		{procfsMagic, "/proc/42/status", false},
		{procfsMagic, "/proc/42/stat", false},
		{procfsMagic, "/proc/42/cmdline", false},
		{procfsMagic, "/proc/42/fdinfo/3", false},
		{procfsMagic, "/proc/42", false},
		{procfsMagic, "/proc/loadavg", false},
		{procfsMagic, "/proc/net/tcp", false},
		{procfsMagic, "/proc", false},
		{0xef53, "/srv/42/environ", false}, // ext4: a file like any other
		{0xef53, "/home/x/maps", false},
		{debugfsMagic, "/sys/kernel/debug/x", true},
		{tracefsMagic, "/sys/kernel/tracing/trace", true},
		{efivarfsMagic, "/sys/firmware/efi/efivars/x", true},
		{securityfsMagic, "/sys/kernel/security/ima/x", true},
		{0x62656572, "/sys/class/net/lo/mtu", false}, // sysfs
	} {
		if got := secretReason(tc.fs, tc.path) != ""; got != tc.secret {
			t.Errorf("secretReason(%#x, %s) = %v, want %v", tc.fs, tc.path, got, tc.secret)
		}
	}
}

// TestReadNeverReachesSecrets is finding 8 of issue #8: read = ["/proc"],
// the docs' own example, returned /proc/self/environ (the agent's
// environment). Neither that prefix nor "/" reaches a process's
// environment or memory, or the kernel's, by any path; what monitoring
// reads stays readable.
func TestReadNeverReachesSecrets(t *testing.T) {
	t.Setenv("BARBOSSA_TEST_SECRET", "hunter2")
	pid := os.Getpid()
	for _, prefix := range []string{"/proc", "/"} {
		c, _ := newCaller(t, Grants{Read: []string{prefix}})
		ctx := ctxTimeout(t, 10*time.Second)
		for _, path := range []string{
			"/proc/self/environ",
			"/proc/thread-self/environ",
			fmt.Sprintf("/proc/%d/environ", pid),
			fmt.Sprintf("/proc/%d/task/%d/environ", pid, pid),
			"/proc/1/environ",
			"/proc/self/mem",
			"/proc/self/maps",
			"/proc/self/auxv",
			"/proc/self/pagemap",
			"/proc/self/fd",
			"/proc/self/root/proc/self/environ",
			"/proc/kcore",
			"/proc/kallsyms",
		} {
			if _, err := os.Lstat(path); os.IsNotExist(err) {
				continue // no /proc/kcore in every kernel
			}
			var r abi.ReadFileResponse
			e := call(t, c, ctx, "read_file", abi.ReadFileRequest{Path: path, MaxBytes: 4096}, &r)
			if !strings.HasPrefix(e, "denied: read of ") || !strings.Contains(e, "never granted") {
				t.Errorf("read = [%q]: %s: %q, %.100q", prefix, path, e, r.Data)
			}
		}
		// A magic link of /proc/PID/fd resolves to the file's path, which
		// is then checked as any: here a device, not read.
		var r abi.ReadFileResponse
		if e := call(t, c, ctx, "read_file", abi.ReadFileRequest{Path: "/proc/self/fd/0"}, &r); e == "" || r.Data != "" {
			t.Errorf("read = [%q]: /proc/self/fd/0: %q", prefix, e)
		}
		for _, path := range []string{"/proc/self/status", "/proc/loadavg", "/proc/self/cmdline"} {
			var r abi.ReadFileResponse
			if e := call(t, c, ctx, "read_file", abi.ReadFileRequest{Path: path}, &r); e != "" || r.Data == "" {
				t.Errorf("read = [%q]: %s: %q", prefix, path, e)
			}
		}
	}
}
