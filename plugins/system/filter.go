package system

import (
	"regexp"
	"sort"
	"strings"

	"github.com/shirou/gopsutil/v3/disk"

	"github.com/barbossa-agent/barbossa/sdk"
)

// underPath reports whether p is prefix or below it, on path boundaries:
// "/dev" covers "/dev" and "/dev/shm" but not "/devices".
func underPath(p, prefix string) bool {
	if prefix == "/" {
		return true
	}
	prefix = strings.TrimSuffix(prefix, "/")
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// selectMounts returns the partitions worth reporting as disks, in mount
// point order: it drops excluded filesystem types and mount points, and
// keeps one mount per block device (the shortest mount point), because bind
// mounts of one filesystem report the same figures under many names.
func selectMounts(parts []disk.PartitionStat, excludeTypes, excludePaths []string) []disk.PartitionStat {
	types := make(map[string]bool, len(excludeTypes))
	for _, t := range excludeTypes {
		types[t] = true
	}
	byDevice := map[string]int{} // device -> index in out
	var out []disk.PartitionStat
next:
	for _, p := range parts {
		if types[p.Fstype] || p.Mountpoint == "" {
			continue
		}
		for _, x := range excludePaths {
			if underPath(p.Mountpoint, x) {
				continue next
			}
		}
		// Only real block devices are deduplicated: ZFS datasets, NFS
		// exports and the like share no device path yet differ in usage.
		if strings.HasPrefix(p.Device, "/dev/") {
			key := p.Device + "\x00" + p.Fstype
			if i, ok := byDevice[key]; ok {
				if len(p.Mountpoint) < len(out[i].Mountpoint) {
					out[i] = p
				}
				continue
			}
			byDevice[key] = len(out)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mountpoint < out[j].Mountpoint })
	return out
}

// keepInterface reports whether an interface's counters are reported.
// Patterns were checked by checkConfig, so a match error cannot happen.
func keepInterface(name string, exclude []string) bool {
	return !sdk.MatchGlob(exclude, name)
}

// keepDiskIO reports whether a block device's I/O counters are reported.
func keepDiskIO(name string, exclude *regexp.Regexp) bool {
	return exclude == nil || !exclude.MatchString(name)
}
