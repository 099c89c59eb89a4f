package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/barbossa-agent/barbossa"
	"github.com/barbossa-agent/barbossa/internal/scaffold"
	"github.com/barbossa-agent/barbossa/internal/wasmdata"
)

// probeNew is `barbossa probe new NAME [--wat | --native]`: a project for
// a new probe, written by internal/scaffold.
func probeNew(name, dir, module string, wat, native bool, stdout, stderr io.Writer) int {
	kind := scaffold.Go
	switch {
	case wat:
		kind = scaffold.WAT
	case native:
		kind = scaffold.Native
	}
	if dir == "" {
		dir = name
	}
	written, err := scaffold.Write(dir, scaffold.Options{
		Name: name, Kind: kind, Module: module, SDK: barbossa.SDK,
		Barbossa: selfCommand(), Version: version,
	})
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: probe new: %v\n", err)
		return 1
	}
	built := name + ".wasm"
	if kind == scaffold.Native {
		built = name + " (a native plugin)"
	}
	fmt.Fprintf(stdout, "wrote %d files into %s\n\n  cd %s\n  make        # %s and %s.toml\n  make test   # its tests, then one run as the agent runs it\n\nThen drop both files into the agent's probes folder; README.md says how.\n",
		len(written), dir, dir, built, name)
	return 0
}

// selfCommand is how the new project's Makefile runs this barbossa:
// "barbossa" when that is what PATH finds, else this binary's path.
func selfCommand() string {
	self, err := os.Executable()
	if err != nil {
		return "barbossa"
	}
	if found, err := exec.LookPath("barbossa"); err == nil {
		a, errA := filepath.EvalSymlinks(found)
		b, errB := filepath.EvalSymlinks(self)
		if errA == nil && errB == nil && a == b {
			return "barbossa"
		}
	}
	return self
}

// probeOptimize is `barbossa probe optimize FILE.wasm...`: each module's
// data segments merged in place (internal/wasmdata).
func probeOptimize(files []string, stdout, stderr io.Writer) int {
	for _, file := range files {
		before, after, err := wasmdata.MergeFile(file, wasmdata.DefaultGap)
		if err != nil {
			fmt.Fprintf(stderr, "barbossa: probe optimize: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: %d data segments -> %d\n", file, before, after)
	}
	return 0
}
