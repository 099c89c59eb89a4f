package agent

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"

	"github.com/barbossa-agent/barbossa/core/config"
)

// The probes folder hands code and grants to the agent, which often runs
// as root: whoever can write there can grant a probe exec = ["sh"]. So, as
// sshd's StrictModes and sudo's sudoers.d do, the agent trusts the folder
// only when it, every folder above it (as written and with symlinks
// resolved) and each drop-in file are owned by root or by the agent's user
// and writable by neither group nor others. A folder above may be
// world-writable when it is root's and sticky, as /tmp is: there no one
// else can rename or remove what another owns.
//
// A drop-in file may be a symlink to a regular file in the folder itself
// (projects.wasm -> projects.wasm.2), checked like any drop-in file; a
// symlink leading out of the folder, or to another symlink, is refused.

// maxDropInTOML bounds a drop-in's NAME.toml: a probe entry is a few lines.
const maxDropInTOML = 1 << 20

// probesFolder is the probes folder as written (absolute) and with its
// symlinks resolved; a drop-in's file or its symlink target must be in one
// of them.
type probesFolder struct {
	abs, real string
}

// trustFolder checks that dir and every folder above it belong to root or
// the agent's user and no one else can write to them.
func trustFolder(dir string) (probesFolder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return probesFolder{}, fmt.Errorf("probes_dir: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return probesFolder{}, fmt.Errorf("probes_dir: %w", err)
	}
	seen := map[string]bool{}
	for _, start := range []string{abs, real} {
		for d := start; !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
			fi, err := os.Stat(d)
			if err != nil {
				return probesFolder{}, fmt.Errorf("probes_dir: %w", err)
			}
			what := "the probes folder"
			if d != abs && d != real {
				what = "a folder above the probes folder"
			}
			if err := trusted(d, fi, what, d != abs && d != real); err != nil {
				return probesFolder{}, err
			}
		}
	}
	return probesFolder{abs: abs, real: real}, nil
}

// trusted says why the agent must not trust what it reads at path, or nil.
func trusted(path string, fi fs.FileInfo, what string, stickyOK bool) error {
	uid, known := owner(fi)
	me := uint32(os.Geteuid())
	if known && uid != 0 && uid != me {
		return &config.Error{File: path, Msg: fmt.Sprintf("%s is owned by %s, not by root or the agent's user (%s): refused; chown it",
			what, userName(uid), userName(me))}
	}
	if fi.Mode().Perm()&0o022 == 0 || stickyOK && fi.Mode()&fs.ModeSticky != 0 && known && uid == 0 {
		return nil
	}
	who := "others"
	if fi.Mode().Perm()&0o002 == 0 {
		who = "its group"
	}
	return &config.Error{File: path, Msg: fmt.Sprintf("%s is writable by %s (%s): refused; chmod go-w it", what, who, fi.Mode())}
}

func userName(uid uint32) string {
	id := fmt.Sprint(uid)
	if u, err := user.LookupId(id); err == nil {
		return "uid " + id + " (" + u.Username + ")"
	}
	return "uid " + id
}

// readDropInFile reads a drop-in's file in folder, checking it as the
// agent trusts it (above) and refusing one over limit bytes; sizeKey names
// the setting behind limit, for the message.
func readDropInFile(folder probesFolder, path string, limit int64, sizeKey string) ([]byte, error) {
	f, fi, err := openDropInFile(folder, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAtMost(f, path, fi.Size(), limit, sizeKey)
}

// openDropInFile opens a drop-in's file in folder if the agent trusts it
// (above): a regular file, or a symlink to one in the folder itself.
func openDropInFile(folder probesFolder, path string) (*os.File, fs.FileInfo, error) {
	lfi, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	target := path
	if lfi.Mode()&fs.ModeSymlink != 0 {
		link, err := os.Readlink(path)
		if err != nil {
			return nil, nil, err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		link = filepath.Clean(link)
		if d := filepath.Dir(link); d != folder.abs && d != folder.real {
			return nil, nil, &config.Error{File: path, Msg: fmt.Sprintf("a symlink out of the probes folder (to %s): refused; copy the file in instead", link)}
		}
		tfi, err := os.Lstat(link)
		if err != nil {
			return nil, nil, err
		}
		if tfi.Mode()&fs.ModeSymlink != 0 {
			return nil, nil, &config.Error{File: path, Msg: fmt.Sprintf("a symlink to another symlink (%s): refused; link straight to a file in the folder", link)}
		}
		target = link
	}
	f, err := openNoFollow(target)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &config.Error{File: path, Msg: fmt.Sprintf("not a regular file (%s): refused", fi.Mode())}
	}
	if err == nil {
		err = trusted(path, fi, "the drop-in file", false)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// readAtMost reads an open file of size bytes, refusing it (or what it
// grew to) beyond limit.
func readAtMost(f *os.File, path string, size, limit int64, sizeKey string) ([]byte, error) {
	over := func(n int64) error {
		return &config.Error{File: path, Msg: fmt.Sprintf("%d bytes, over the limit of %s (%s): refused", n, bytesText(limit), sizeKey)}
	}
	if size > limit {
		return nil, over(size)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, over(int64(len(b)))
	}
	return b, nil
}

// bytesText writes a size as the config does: "16MiB", "1536KiB", "100B".
func bytesText(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%dB", n)
}
