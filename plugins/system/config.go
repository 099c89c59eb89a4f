package system

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Config is the probe's [probe.config] table. Every key is optional; a key
// that is set replaces its default (lists are not merged with the default
// list, so a user sees in one place exactly what is excluded).
type Config struct {
	// PerCPU adds system.cpu.percent{cpu="N"} for every logical CPU.
	PerCPU bool `json:"per_cpu"`

	// MountExcludeTypes are filesystem types that are not reported as disks:
	// pseudo and in-memory filesystems, read-only images, container layers.
	MountExcludeTypes []string `json:"mount_exclude_types"`
	// MountExcludePaths are mount point prefixes (matched on path
	// boundaries) that are not reported: container runtimes' private mounts.
	MountExcludePaths []string `json:"mount_exclude_paths"`
	// MountTimeout bounds one statfs call. A mount that does not answer in
	// time (a dead NFS server) is skipped until its call returns.
	MountTimeout sdk.Duration `json:"mount_timeout"`

	// DiskIOExclude is a regular expression of block device names whose I/O
	// counters are not reported (partitions, loop and RAM devices).
	DiskIOExclude string `json:"diskio_exclude"`

	// InterfaceExclude are network interface names or globs (path.Match
	// syntax, "veth*") whose counters are not reported.
	InterfaceExclude []string `json:"interface_exclude"`

	// Connections turns on connection counts and listener entities. Reading
	// the socket tables costs time proportional to the sockets on the host;
	// finding a new listener's owner reads every process's fd table.
	Connections bool `json:"connections"`
	// MaxListeners caps the listener entities in one report. The
	// system.net.listeners metric still counts all of them.
	MaxListeners int `json:"max_listeners"`

	// Thresholds. A value of 0 turns that threshold off. A level is reached
	// when the value is greater than or equal to it.
	MemoryWarnPercent float64 `json:"memory_warn_percent"`
	MemoryCritPercent float64 `json:"memory_crit_percent"`
	DiskWarnPercent   float64 `json:"disk_warn_percent"`
	DiskCritPercent   float64 `json:"disk_crit_percent"`
	// Load thresholds are per logical CPU: load1 / cpus.
	LoadWarnPerCPU float64 `json:"load_warn_per_cpu"`
	LoadCritPerCPU float64 `json:"load_crit_per_cpu"`
}

// DefaultConfig returns the settings used for every key the user leaves out.
func DefaultConfig() Config {
	return Config{
		PerCPU: true,
		MountExcludeTypes: []string{
			"autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs",
			"debugfs", "devfs", "devpts", "devtmpfs", "efivarfs", "fusectl",
			"fuse.lxcfs", "hugetlbfs", "iso9660", "mqueue", "nsfs", "overlay",
			"proc", "procfs", "pstore", "ramfs", "rpc_pipefs", "securityfs",
			"selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "udf",
		},
		MountExcludePaths: []string{
			"/proc", "/sys", "/dev", "/run/credentials", "/run/docker/netns",
			"/var/lib/docker", "/var/lib/containers", "/var/lib/kubelet", "/snap",
		},
		MountTimeout:      sdk.Duration{Duration: 5 * time.Second},
		DiskIOExclude:     `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p|mmcblk\d+p)\d+$`,
		InterfaceExclude:  []string{"lo"},
		Connections:       true,
		MaxListeners:      256,
		MemoryWarnPercent: 90,
		MemoryCritPercent: 95,
		DiskWarnPercent:   85,
		DiskCritPercent:   95,
		LoadWarnPerCPU:    2,
		LoadCritPerCPU:    4,
	}
}

// parsedConfig is a Config checked and turned into what a run uses.
type parsedConfig struct {
	Config
	diskIOExclude *regexp.Regexp
}

// configKeys lists the json names of Config's fields, to reject misspelt keys.
var configKeys = func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		keys[name] = true
	}
	return keys
}()

// unknownKeys returns the keys of raw that Config does not have, sorted.
func unknownKeys(raw map[string]any) []string {
	var bad []string
	for k := range raw {
		if !configKeys[k] {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}

// parseConfig decodes the request's config over the defaults and checks it.
// A misspelt key is an error rather than a silently ignored setting.
func parseConfig(req sdk.Request) (parsedConfig, error) {
	if bad := unknownKeys(req.Config); len(bad) > 0 {
		return parsedConfig{}, fmt.Errorf("config of probe %q: unknown key(s) %s", req.Probe, strings.Join(bad, ", "))
	}
	cfg := DefaultConfig()
	if err := req.Decode(&cfg); err != nil {
		return parsedConfig{}, err
	}
	return checkConfig(req.Probe, cfg)
}

func checkConfig(probe string, cfg Config) (parsedConfig, error) {
	fail := func(format string, args ...any) (parsedConfig, error) {
		return parsedConfig{}, fmt.Errorf("config of probe %q: "+format, append([]any{probe}, args...)...)
	}
	if cfg.MaxListeners < 0 {
		return fail("max_listeners must be >= 0, got %d", cfg.MaxListeners)
	}
	if cfg.MountTimeout.Duration <= 0 {
		return fail("mount_timeout must be > 0, got %s", cfg.MountTimeout)
	}
	pairs := []struct {
		name       string
		warn, crit float64
	}{
		{"memory", cfg.MemoryWarnPercent, cfg.MemoryCritPercent},
		{"disk", cfg.DiskWarnPercent, cfg.DiskCritPercent},
		{"load", cfg.LoadWarnPerCPU, cfg.LoadCritPerCPU},
	}
	for _, p := range pairs {
		if p.warn < 0 || p.crit < 0 {
			return fail("%s thresholds must be >= 0 (0 turns one off)", p.name)
		}
		if p.warn > 0 && p.crit > 0 && p.warn > p.crit {
			return fail("%s warn threshold %g is above its crit threshold %g", p.name, p.warn, p.crit)
		}
	}
	for _, g := range cfg.InterfaceExclude {
		if err := sdk.CheckGlob(g); err != nil {
			return fail("interface_exclude: %w", err)
		}
	}
	out := parsedConfig{Config: cfg}
	if cfg.DiskIOExclude != "" {
		re, err := regexp.Compile(cfg.DiskIOExclude)
		if err != nil {
			return fail("diskio_exclude: %w", err)
		}
		out.diskIOExclude = re
	}
	return out, nil
}
