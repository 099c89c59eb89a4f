package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-plugin"
)

// ChecksumError is a plugin binary whose sha256 is not the one its probe's
// config pins. It matches plugin.ErrChecksumsDoNotMatch with errors.Is.
type ChecksumError struct {
	Probe, Path string
	Want, Got   string // lower-case hex
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin probe %q: refusing to run %s: its sha256 is %s, but the probe's config pins sha256 = %q (rebuild the plugin, or update sha256 if this binary is the one you mean)",
		e.Probe, e.Path, e.Got, e.Want)
}

func (e *ChecksumError) Unwrap() error { return plugin.ErrChecksumsDoNotMatch }

// parseSum decodes a pinned sha256; "" means none.
func parseSum(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("sha256 %q: want 64 hexadecimal digits", s)
	}
	return b, nil
}

// FileSHA256 returns the hex sha256 of a file, as sha256sum prints it.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkSum compares a file with the pinned sum.
func checkSum(probe, path string, want []byte) error {
	got, err := FileSHA256(path)
	if err != nil {
		return fmt.Errorf("plugin probe %q: checksum: %w", probe, err)
	}
	if got != hex.EncodeToString(want) {
		return &ChecksumError{Probe: probe, Path: path, Want: hex.EncodeToString(want), Got: got}
	}
	return nil
}
