package abi

// ReadFileRequest is the request of the read_file host function. A probe
// author calls sdk.ReadFile or sdk.ReadDir instead.
type ReadFileRequest struct {
	Path     string `json:"path"`
	MaxBytes int64  `json:"max_bytes,omitempty"` // 0 means the host's default (1 MiB)
}

// ReadFileResponse is read_file's answer: a file's data or a directory's
// entries.
type ReadFileResponse struct {
	Data string `json:"data"`
	// Encoding is "base64" when the data is not valid UTF-8.
	Encoding string `json:"encoding,omitempty"`
	// Truncated is set when the data was cut at max_bytes, or the listing
	// at the probe's max_dir_entries.
	Truncated bool       `json:"truncated,omitempty"`
	Entries   []DirEntry `json:"entries,omitempty"` // set when the path is a directory
}

// DirEntry is one entry of a directory listed by read_file; sdk.DirEntry
// is the same for a probe author.
type DirEntry struct {
	Name string `json:"name"`
	Type string `json:"type"` // file, dir, symlink or other (a symlink is not followed)
	// Size and MTimeNS (its modification time in nanoseconds since the
	// Unix epoch) are the entry's own, not a symlink's target's; both are
	// absent when the entry could not be looked at (it went away).
	Size    int64 `json:"size,omitempty"`
	MTimeNS int64 `json:"mtime_ns,omitempty"`
}

// StatRequest is the request of the stat host function. A probe author
// calls sdk.Stat instead.
type StatRequest struct {
	Path string `json:"path"`
}

// FileInfo is stat's answer.
type FileInfo struct {
	Name    string `json:"name"`     // the last element of the path
	Type    string `json:"type"`     // file, dir or other (symlinks are resolved)
	Size    int64  `json:"size"`     // in bytes
	Mode    uint32 `json:"mode"`     // permission bits, setuid, setgid and sticky
	MTimeNS int64  `json:"mtime_ns"` // modification time, nanoseconds since the Unix epoch
}
