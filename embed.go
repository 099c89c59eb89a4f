// Package barbossa holds what the binary carries inside it: the default
// configuration, so `barbossa run` works from any folder.
package barbossa

import _ "embed"

// DefaultConfig is barbossa.toml as shipped.
//
//go:embed barbossa.toml
var DefaultConfig []byte

// DefaultConfigName labels the embedded config in messages.
const DefaultConfigName = "(embedded barbossa.toml)"
