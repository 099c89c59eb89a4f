// Package barbossa holds what the binary carries inside it: the default
// configuration, so `barbossa run` works from any folder, and the probe
// SDK's source, so `barbossa probe new` makes a project that builds
// without fetching it.
package barbossa

import "embed"

// DefaultConfig is barbossa.toml as shipped.
//
//go:embed barbossa.toml
var DefaultConfig []byte

// DefaultConfigName labels the embedded config in messages.
const DefaultConfigName = "(embedded barbossa.toml)"

// SDK is the probe SDK's source as this binary was built with it: the
// packages a probe imports (sdk, sdk/sdktest) and what they import of ours
// (internal/abi). `barbossa probe new` writes it beside a new probe
// (internal/scaffold); its tests check that nothing the SDK imports is
// missing from it.
//
//go:embed sdk/*.go sdk/sdktest/*.go internal/abi/*.go
var SDK embed.FS
