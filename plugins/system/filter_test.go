package system

import (
	"reflect"
	"regexp"
	"testing"

	"github.com/shirou/gopsutil/v3/disk"
)

func TestUnderPath(t *testing.T) {
	tests := []struct {
		p, prefix string
		want      bool
	}{
		{"/dev", "/dev", true},
		{"/dev/shm", "/dev", true},
		{"/dev/shm", "/dev/", true},
		{"/devices", "/dev", false},
		{"/", "/dev", false},
		{"/anything", "/", true},
		{"/var/lib/docker/overlay2/x/merged", "/var/lib/docker", true},
		{"/var/lib/dockerish", "/var/lib/docker", false},
	}
	for _, tt := range tests {
		if got := underPath(tt.p, tt.prefix); got != tt.want {
			t.Errorf("underPath(%q, %q) = %v, want %v", tt.p, tt.prefix, got, tt.want)
		}
	}
}

func TestSelectMounts(t *testing.T) {
	d := DefaultConfig()
	p := func(dev, mnt, fs string) disk.PartitionStat {
		return disk.PartitionStat{Device: dev, Mountpoint: mnt, Fstype: fs}
	}
	tests := []struct {
		name  string
		parts []disk.PartitionStat
		want  []string // mount points
	}{
		{"pseudo filesystems dropped by type", []disk.PartitionStat{
			p("/dev/vda", "/", "ext4"),
			p("proc", "/proc", "proc"),
			p("tmpfs", "/run", "tmpfs"),
			p("overlay", "/", "overlay"),
			p("/dev/loop3", "/snap/core/1", "squashfs"),
			p("cgroup2", "/sys/fs/cgroup", "cgroup2"),
			p("/dev/sr0", "/media/cdrom", "iso9660"),
		}, []string{"/"}},
		{"container runtime mounts dropped by path", []disk.PartitionStat{
			p("/dev/sda1", "/", "ext4"),
			p("/dev/sdb1", "/var/lib/docker", "xfs"),
			p("shm", "/var/lib/docker/containers/abc/mounts/shm", "ext4"),
			p("/dev/sdc1", "/var/lib/dockerdata", "ext4"),
		}, []string{"/", "/var/lib/dockerdata"}},
		{"bind mounts of one device keep the shortest mount point", []disk.PartitionStat{
			p("/dev/vda", "/etc/hosts", "ext4"),
			p("/dev/vda", "/", "ext4"),
			p("/dev/vda", "/etc/hostname", "ext4"),
		}, []string{"/"}},
		{"datasets and network shares are not deduplicated", []disk.PartitionStat{
			p("tank/home", "/home", "zfs"),
			p("tank/data", "/data", "zfs"),
			p("nas:/export", "/mnt/a", "nfs4"),
			p("nas:/export", "/mnt/b", "nfs4"),
		}, []string{"/data", "/home", "/mnt/a", "/mnt/b"}},
		{"sorted by mount point", []disk.PartitionStat{
			p("/dev/sdb1", "/srv", "ext4"),
			p("/dev/sda2", "/boot", "ext4"),
			p("/dev/sda1", "/", "btrfs"),
		}, []string{"/", "/boot", "/srv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, m := range selectMounts(tt.parts, d.MountExcludeTypes, d.MountExcludePaths) {
				got = append(got, m.Mountpoint)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mounts = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeepInterface(t *testing.T) {
	exclude := []string{"lo", "veth*", "docker?"}
	tests := map[string]bool{
		"lo": false, "eth0": true, "lo0": true, "veth12ab": false,
		"docker0": false, "docker10": true, "wlan0": true,
	}
	for name, want := range tests {
		if got := keepInterface(name, exclude); got != want {
			t.Errorf("keepInterface(%q) = %v, want %v", name, got, want)
		}
	}
	if !keepInterface("lo", nil) {
		t.Error("keepInterface with no excludes dropped lo")
	}
}

func TestKeepDiskIO(t *testing.T) {
	re := regexp.MustCompile(DefaultConfig().DiskIOExclude)
	tests := map[string]bool{
		"sda": true, "sda1": false, "vda": true, "vda3": false, "xvda": true, "xvda1": false,
		"nvme0n1": true, "nvme0n1p1": false, "mmcblk0": true, "mmcblk0p2": false,
		"loop0": false, "ram0": false, "zram0": false, "dm-0": true, "md0": true, "sr0": true,
	}
	for name, want := range tests {
		if got := keepDiskIO(name, re); got != want {
			t.Errorf("keepDiskIO(%q) = %v, want %v", name, got, want)
		}
	}
	if !keepDiskIO("loop0", nil) {
		t.Error("keepDiskIO with no exclude dropped loop0")
	}
}
