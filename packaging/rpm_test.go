//go:build linux

package packaging

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// TestRPM reads the .rpm with rpm itself (there is no RPM system to
// install it on here): its files, the config marked noreplace, the
// scriptlets, and the architecture's RPM name.
func TestRPM(t *testing.T) {
	b := buildPackages(t, "1.0.0")
	rpm := testenv.Program(t, "rpm", "rpm")
	query := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(rpm, append([]string{"-qp"}, append(args, b.rpm)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm -qp %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	files := query("--list")
	for _, want := range []string{"/usr/bin/barbossa", "/etc/barbossa/barbossa.toml", "/etc/barbossa/probes.d",
		"/usr/lib/systemd/system/barbossa.service", "/usr/lib/sysusers.d/barbossa.conf", "/usr/share/man/man1/barbossa.1.gz",
		"/usr/share/zsh/site-functions/_barbossa", "/usr/share/fish/vendor_completions.d/barbossa.fish"} {
		if !strings.Contains(files, want+"\n") {
			t.Errorf("the rpm lacks %s:\n%s", want, files)
		}
	}
	if strings.Contains(files, "vendor-completions") {
		t.Error("the rpm holds Debian's zsh folder")
	}
	// %config(noreplace): an upgrade keeps an edited file.
	if flags := query("--queryformat", `[%{FILENAMES} %{FILEFLAGS:fflags}\n]`); !strings.Contains(flags, "/etc/barbossa/barbossa.toml cn") {
		t.Errorf("the config is not %%config(noreplace):\n%s", flags)
	}
	scripts := query("--scripts")
	for _, want := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "systemd-sysusers"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("scriptlets lack %q", want)
		}
	}
	if arch := query("--queryformat", "%{ARCH} %{VERSION}-%{RELEASE}"); arch != "x86_64 1.0.0-1" && arch != "aarch64 1.0.0-1" {
		t.Errorf("arch and version: %q", arch)
	}
}
