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
	Encoding  string     `json:"encoding,omitempty"`
	Truncated bool       `json:"truncated,omitempty"`
	Entries   []DirEntry `json:"entries,omitempty"` // set when the path is a directory
}

// DirEntry is one entry of a directory listed by read_file; sdk.DirEntry
// is the same for a probe author.
type DirEntry struct {
	Name string `json:"name"`
	Type string `json:"type"` // file, dir, symlink or other
}
