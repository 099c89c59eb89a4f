package system

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/barbossa-agent/barbossa/sdk"
)

// TestSampleConfig decodes testdata/sample.toml the way the agent passes a
// [probe.config] table (TOML -> map -> Request.Decode), and checks that the
// sample the README shows is exactly the defaults.
func TestSampleConfig(t *testing.T) {
	var file struct {
		Probe []struct {
			Name   string         `toml:"name"`
			Config map[string]any `toml:"config"`
		} `toml:"probe"`
	}
	if _, err := toml.DecodeFile(filepath.Join("testdata", "sample.toml"), &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Probe) != 1 || len(file.Probe[0].Config) == 0 {
		t.Fatalf("sample.toml: want one probe with a config table, got %+v", file.Probe)
	}
	cfg, err := parseConfig(sdk.Request{Probe: "system", Config: file.Probe[0].Config})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Config, DefaultConfig()) {
		t.Errorf("sample.toml differs from DefaultConfig:\n got %+v\nwant %+v", cfg.Config, DefaultConfig())
	}
	if len(file.Probe[0].Config) != len(configKeys) {
		t.Errorf("sample.toml sets %d keys, Config has %d: document every key", len(file.Probe[0].Config), len(configKeys))
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		check   func(t *testing.T, c parsedConfig)
		wantErr string
	}{
		{name: "empty gives defaults", config: nil, check: func(t *testing.T, c parsedConfig) {
			if !reflect.DeepEqual(c.Config, DefaultConfig()) {
				t.Errorf("got %+v", c.Config)
			}
			if c.diskIOExclude == nil || !c.diskIOExclude.MatchString("sda1") {
				t.Error("default diskio_exclude not compiled")
			}
		}},
		{name: "overrides replace defaults", config: map[string]any{
			"per_cpu": false, "interface_exclude": []any{"lo", "veth*"}, "max_listeners": int64(10),
			"memory_warn_percent": 80.5, "mount_timeout": "250ms", "connections": false,
		}, check: func(t *testing.T, c parsedConfig) {
			if c.PerCPU || c.Connections || c.MaxListeners != 10 || c.MemoryWarnPercent != 80.5 {
				t.Errorf("got %+v", c.Config)
			}
			if !reflect.DeepEqual(c.InterfaceExclude, []string{"lo", "veth*"}) {
				t.Errorf("interface_exclude = %v", c.InterfaceExclude)
			}
			if c.MountTimeout.Duration != 250*time.Millisecond {
				t.Errorf("mount_timeout = %v", c.MountTimeout.Duration)
			}
			if c.DiskCritPercent != 95 {
				t.Errorf("an unset key lost its default: disk_crit_percent = %v", c.DiskCritPercent)
			}
		}},
		{name: "duration as seconds", config: map[string]any{"mount_timeout": int64(2)}, check: func(t *testing.T, c parsedConfig) {
			if c.MountTimeout.Duration != 2*time.Second {
				t.Errorf("mount_timeout = %v", c.MountTimeout.Duration)
			}
		}},
		{name: "empty diskio_exclude keeps every device", config: map[string]any{"diskio_exclude": ""}, check: func(t *testing.T, c parsedConfig) {
			if c.diskIOExclude != nil {
				t.Error("want no regexp")
			}
		}},
		{name: "thresholds off", config: map[string]any{"memory_warn_percent": 0, "memory_crit_percent": 0}, check: func(t *testing.T, c parsedConfig) {
			if c.MemoryWarnPercent != 0 || c.MemoryCritPercent != 0 {
				t.Errorf("got %+v", c.Config)
			}
		}},
		{name: "misspelt key", config: map[string]any{"percpu": true, "max_listener": 3}, wantErr: `unknown key(s) max_listener, percpu`},
		{name: "wrong type", config: map[string]any{"per_cpu": "yes"}, wantErr: `per_cpu`},
		{name: "bad duration", config: map[string]any{"mount_timeout": "5 sec"}, wantErr: `duration "5 sec": a space inside`},
		{name: "days", config: map[string]any{"mount_timeout": "1d"}, check: func(t *testing.T, c parsedConfig) {
			if c.MountTimeout.Duration != 24*time.Hour {
				t.Errorf("mount_timeout = %v", c.MountTimeout.Duration)
			}
		}},
		{name: "zero duration", config: map[string]any{"mount_timeout": "0s"}, wantErr: `mount_timeout must be > 0`},
		{name: "warn above crit", config: map[string]any{"disk_warn_percent": 96}, wantErr: `disk warn threshold 96 is above its crit threshold 95`},
		{name: "negative threshold", config: map[string]any{"load_warn_per_cpu": -1}, wantErr: `load thresholds must be >= 0`},
		{name: "negative cap", config: map[string]any{"max_listeners": -1}, wantErr: `max_listeners must be >= 0`},
		{name: "bad regexp", config: map[string]any{"diskio_exclude": "("}, wantErr: `diskio_exclude`},
		{name: "bad glob", config: map[string]any{"interface_exclude": []any{"eth["}}, wantErr: `interface_exclude: "eth[" is not a valid glob pattern`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(sdk.Request{Probe: "sys2", Config: tt.config})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), `"sys2"`) {
					t.Errorf("err = %v, want it to name the probe instance", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
