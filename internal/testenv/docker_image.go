//go:build linux

package testenv

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// probeSource is testdata/probe/main.go, embedded so that tests of other
// packages (whose working directory is elsewhere) can build it too.
//
//go:embed testdata/probe/main.go
var probeSource []byte

// ImageRef is the reference Image gives the imported test image.
const ImageRef = "barbossa-test/probe:latest"

// Image returns the reference of the test image, importing it on first use:
// a static Go binary (testdata/probe) as /probe, ENTRYPOINT ["/probe"],
// CMD ["sleep"]. No registry and no base image are involved: the tarball goes
// to POST /images/create?fromSrc=- (what `docker import` does).
func (d *Docker) Image(t testing.TB) string {
	t.Helper()
	d.imageOnce.Do(func() {
		start := time.Now()
		d.imageErr = d.importImage()
		if d.imageErr == nil {
			t.Logf("testenv: built and imported %s in %s", ImageRef, time.Since(start).Round(time.Millisecond))
		}
	})
	if d.imageErr != nil {
		t.Fatalf("testenv: test image: %v", d.imageErr)
	}
	return ImageRef
}

func (d *Docker) importImage() error {
	bin, err := buildProbe(d.in.path("probe-build"))
	if err != nil {
		return err
	}
	tarball, err := imageTar(bin)
	if err != nil {
		return err
	}
	q := "/images/create?fromSrc=-&repo=" + url.QueryEscape("barbossa-test/probe") + "&tag=latest" +
		"&changes=" + url.QueryEscape(`ENTRYPOINT ["/probe"]`) +
		"&changes=" + url.QueryEscape(`CMD ["sleep"]`) +
		"&changes=" + url.QueryEscape(`LABEL org.barbossa.test=1`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress bytes.Buffer
	if err := d.API(ctx, http.MethodPost, q, bytes.NewReader(tarball), &progress); err != nil {
		return fmt.Errorf("import image: %w", err)
	}
	// The answer is a stream of JSON messages; a failure is reported in
	// one of them with a 200 status.
	sc := bufio.NewScanner(&progress)
	for sc.Scan() {
		var m struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Error != "" {
			return fmt.Errorf("import image: %s", m.Error)
		}
	}
	return nil
}

// buildProbe compiles the embedded probe program into dir/probe, static.
func buildProbe(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create build dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), probeSource, 0o644); err != nil {
		return "", fmt.Errorf("write probe source: %w", err)
	}
	gomod := "module barbossa-testenv-probe\n\ngo 1.21\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", fmt.Errorf("write probe go.mod: %w", err)
	}
	goBin, err := goTool()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "probe")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH,
		// The probe has no dependencies: don't let the caller's module,
		// workspace or flags (-mod=vendor) or a toolchain download interfere.
		"GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local", "GO111MODULE=on")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build probe: %w\n%s", err, b)
	}
	return out, nil
}

// goTool finds the go command; go test puts GOROOT/bin first in PATH.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, root := range []string{os.Getenv("GOROOT"), "/usr/local/go"} {
		if root == "" {
			continue
		}
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("go command not found in PATH, $GOROOT or /usr/local/go: needed to build the test image's binary")
}

// imageTar makes a root filesystem tarball holding only /probe.
func imageTar(bin string) ([]byte, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read probe binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Name: "probe", Mode: 0o755, Size: int64(len(b)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
		return nil, fmt.Errorf("tar header: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return nil, fmt.Errorf("tar body: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return buf.Bytes(), nil
}
